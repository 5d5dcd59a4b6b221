package ca

import (
	"math/big"
	"slices"
	"strings"
	"sync"
)

// caChanges tells the front ends that serve every CA (the OCSP responder,
// the CRL distribution point) that the hierarchy changed: a CA joined it
// or was revoked, here or, after Refresh, in another process.
type caChanges struct {
	mu  sync.Mutex
	gen uint64
	ch  chan struct{} // closed at the next change
}

// caChanged records a change of the hierarchy and wakes the waiters.
func (e *Engine) caChanged() {
	c := &e.changes
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

// CAChanges returns a number that grows each time a CA joins the
// hierarchy or is revoked, and a channel closed at the next such change.
// A front end that serves every CA compares the number with the one it
// last acted on, then waits on the channel.
func (e *Engine) CAChanges() (uint64, <-chan struct{}) {
	c := &e.changes
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.gen, c.ch
}

// RevokedCA is a revoked CA, the CA whose CRL lists it and its
// certificate's serial.
type RevokedCA struct {
	Name, Parent string
	Serial       *big.Int
}

// RevokedCAs lists the revoked CAs the engine knows of, by name.
func (e *Engine) RevokedCAs() []RevokedCA {
	var out []RevokedCA
	for n, a := range e.set.Load().cas {
		if a.parent != nil && a.revoked.Load() != nil {
			out = append(out, RevokedCA{Name: n, Parent: a.parent.name, Serial: a.cert.SerialNumber})
		}
	}
	slices.SortFunc(out, func(a, b RevokedCA) int { return strings.Compare(a.Name, b.Name) })
	return out
}
