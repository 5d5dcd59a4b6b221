package ocsp

import (
	"bytes"
	"encoding/binary"
	"sync"
	"time"

	"github.com/vcc/vccpki/ca"
)

// table holds the pre-signed responses of one issuer for one CertID hash
// algorithm, keyed by serial. A million of them must fit, be found in
// well under a microsecond, and cost the garbage collector nothing: the
// map has no pointers in keys or values (so it is never scanned), and the
// response bodies sit back to back in large byte chunks (which hold no
// pointers either). A chunk is only ever appended to, so a body handed
// to a reader stays intact after the lock is released; an entry replaced
// by a newer one is garbage until the table is rebuilt.
type table struct {
	mu     sync.RWMutex
	slots  map[serialKey]uint64 // chunk index << 32 | offset
	chunks [][]byte
	// built is when the table's generation was signed: it is rebuilt
	// before built + validity/2.
	built time.Time
	// certs are the responder certificates (certs fields) the entries were
	// signed under; an entry names its own by index. There is one, or two
	// while a renewed responder certificate replaces the old one.
	certs [][]byte
}

// tableChunk is the size of one chunk; an entry never spans two.
const tableChunk = 1 << 20

// entry header: producedAt, nextUpdate (unix seconds), ETag, body length,
// index into certs.
const entryHeader = 8 + 8 + 8 + 2 + 1

// maxTableCerts bounds the certs one table tells apart; an entry signed
// under yet another responder certificate is not stored (it is answered
// live) until the table is rebuilt.
const maxTableCerts = 255

// cached is one pre-signed response as the HTTP layer needs it.
type cached struct {
	signed     []byte // ca.SignedOCSP.Signed
	certs      []byte // ca.SignedOCSP.Certs
	producedAt time.Time
	nextUpdate time.Time
	etag       uint64
}

func newTable(built time.Time, sizeHint int) *table {
	return &table{slots: make(map[serialKey]uint64, sizeHint), built: built}
}

// get returns the response for a serial.
func (t *table) get(k serialKey) (cached, bool) {
	t.mu.RLock()
	slot, ok := t.slots[k]
	var b, certs []byte
	if ok {
		b = t.chunks[slot>>32][uint32(slot):]
		certs = t.certs[b[26]]
	}
	t.mu.RUnlock()
	if !ok {
		return cached{}, false
	}
	n := int(binary.BigEndian.Uint16(b[24:]))
	return cached{
		signed:     b[entryHeader : entryHeader+n : entryHeader+n],
		certs:      certs,
		producedAt: time.Unix(int64(binary.BigEndian.Uint64(b)), 0),
		nextUpdate: time.Unix(int64(binary.BigEndian.Uint64(b[8:])), 0),
		etag:       binary.BigEndian.Uint64(b[16:]),
	}, true
}

// put stores or replaces the response for a serial.
func (t *table) put(k serialKey, s ca.SignedOCSP) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.putLocked(k, s)
}

// putIfAbsent stores the response unless the table has one for the serial.
func (t *table) putIfAbsent(k serialKey, s ca.SignedOCSP) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.slots[k]; !ok {
		t.putLocked(k, s)
	}
}

// remove forgets a serial's response: its requests are answered live.
func (t *table) remove(k serialKey) {
	t.mu.Lock()
	delete(t.slots, k)
	t.mu.Unlock()
}

func (t *table) putLocked(k serialKey, s ca.SignedOCSP) {
	if len(s.Signed) > 1<<16-1 {
		delete(t.slots, k) // cannot happen with the engine's keys; never store a truncated length
		return
	}
	ci := t.certsIndex(s.Certs)
	if ci < 0 {
		delete(t.slots, k)
		return
	}
	need := entryHeader + len(s.Signed)
	last := len(t.chunks) - 1
	if last < 0 || cap(t.chunks[last])-len(t.chunks[last]) < need {
		t.chunks = append(t.chunks, make([]byte, 0, max(tableChunk, need)))
		last++
	}
	c := t.chunks[last]
	off := len(c)
	c = binary.BigEndian.AppendUint64(c, uint64(s.ProducedAt.Unix()))
	c = binary.BigEndian.AppendUint64(c, uint64(s.NextUpdate.Unix()))
	c = binary.BigEndian.AppendUint64(c, etagOf(s.Signed))
	c = binary.BigEndian.AppendUint16(c, uint16(len(s.Signed)))
	c = append(c, byte(ci))
	t.chunks[last] = append(c, s.Signed...)
	t.slots[k] = uint64(last)<<32 | uint64(off)
}

// certsIndex returns the index of certs in t.certs, adding it if new, or
// -1 when the table tells apart as many as it can. The engine shares one
// slice per responder certificate, so the comparison is quick.
func (t *table) certsIndex(certs []byte) int {
	for i, c := range t.certs {
		if bytes.Equal(c, certs) {
			return i
		}
	}
	if len(t.certs) >= maxTableCerts {
		return -1
	}
	t.certs = append(t.certs, certs)
	return len(t.certs) - 1
}

// stats returns the number of entries and the bytes the chunks hold.
func (t *table) stats() (entries, bytes int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, c := range t.chunks {
		bytes += len(c)
	}
	return len(t.slots), bytes
}
