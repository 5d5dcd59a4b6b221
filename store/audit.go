package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ZeroHash is the PrevHash of the first audit entry.
var ZeroHash = make([]byte, sha256.Size)

// ChainHash is the hash that links an audit entry to its predecessor:
// SHA-256 over the sequence number, the previous hash and every field of
// the event, each length-prefixed so that no two events encode alike.
// Every store implementation computes it the same way.
func ChainHash(seq int64, prev []byte, ev AuditEvent) []byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	h.Write(n[:])
	h.Write(prev)
	binary.BigEndian.PutUint64(n[:], uint64(ev.Time.UTC().UnixNano()))
	h.Write(n[:])
	for _, s := range []string{ev.Actor, ev.Action, ev.Object, ev.Result} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// AuditProblem names the first entry at which the chain breaks.
type AuditProblem struct {
	Seq    int64 // sequence number of the first bad entry (or where one is missing)
	Reason string
}

func (p *AuditProblem) Error() string {
	return fmt.Sprintf("audit chain broken at entry %d: %s", p.Seq, p.Reason)
}

// VerifyAudit walks the whole chain and returns the number of entries
// checked, and an *AuditProblem naming the first entry that was changed,
// removed or reordered. Removal of entries at the very end cannot be seen
// from the chain alone.
func VerifyAudit(ctx context.Context, s Store) (int64, error) {
	var (
		count    int64
		wantSeq  int64 = 1
		prevHash       = ZeroHash
	)
	err := s.WalkAudit(ctx, func(e AuditEntry) error {
		switch {
		case e.Seq > wantSeq:
			return &AuditProblem{Seq: wantSeq, Reason: fmt.Sprintf("entry %d is missing (next stored entry is %d)", wantSeq, e.Seq)}
		case e.Seq < wantSeq:
			return &AuditProblem{Seq: e.Seq, Reason: "entry appears out of order"}
		case !bytes.Equal(e.PrevHash, prevHash):
			return &AuditProblem{Seq: e.Seq, Reason: "previous-hash link does not match the entry before it (entries removed or reordered)"}
		case !bytes.Equal(e.Hash, ChainHash(e.Seq, e.PrevHash, e.AuditEvent)):
			return &AuditProblem{Seq: e.Seq, Reason: fmt.Sprintf("contents changed (%s %s %s at %s)", e.Actor, e.Action, e.Object, e.Time.UTC().Format(time.RFC3339))}
		}
		count++
		wantSeq++
		prevHash = e.Hash
		return nil
	})
	var p *AuditProblem
	if errors.As(err, &p) {
		return count, p
	}
	return count, err
}
