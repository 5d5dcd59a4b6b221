package acme

import "sync"

// localWindowSize is how many local nonces may be outstanding at once: a
// nonce is refused once this many newer ones were issued (1 bit each, so
// 128 KiB). At 5,000 nonces a second that is three and a half minutes; a
// client spends its nonce with its next request.
const localWindowSize = 1 << 20

// localWindow redeems the local nonces of this instance in memory. Nonces
// carry consecutive counters; the window remembers, for the last size
// counters issued, which were spent. A counter not yet issued, older than
// the window, or spent is refused. Memory is bounded whatever clients do:
// unspent nonces cost nothing, and issuing one reuses the slot of the
// counter size places before it, which falls out of the window.
type localWindow struct {
	mu   sync.Mutex
	next uint64   // the next counter to issue; counters start at 1
	used []uint64 // bit c%size: counter c, issued within the window, is spent
	size uint64
}

func newLocalWindow(size uint64) *localWindow {
	return &localWindow{next: 1, used: make([]uint64, (size+63)/64), size: size}
}

func (w *localWindow) issue() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.next
	w.next++
	i := c % w.size
	w.used[i/64] &^= 1 << (i % 64)
	return c
}

// redeem marks counter c spent; false if it cannot be spent.
func (w *localWindow) redeem(c uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c == 0 || c >= w.next || w.next-c > w.size {
		return false
	}
	i := c % w.size
	bit := uint64(1) << (i % 64)
	if w.used[i/64]&bit != 0 {
		return false
	}
	w.used[i/64] |= bit
	return true
}
