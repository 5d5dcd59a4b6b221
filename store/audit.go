package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	fields := []string{ev.Actor, ev.Action, ev.Object, ev.Result}
	if OrgOf(ev.Org) != OperatorOrg {
		fields = append(fields, ev.Org)
	}
	for _, s := range fields {
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
// from the chain alone: VerifyAuditAnchored can, given a head kept
// elsewhere.
func VerifyAudit(ctx context.Context, s Store) (int64, error) {
	head, err := VerifyAuditAnchored(ctx, s, AuditHead{})
	return head.Seq, err
}

// AuditHead names one entry of the chain by its sequence number and hash.
// The head that `vccpki audit verify` prints, kept where the database's
// administrator cannot change it (a ticket, a second system, paper), is
// the anchor that later shows whether entries up to it were removed from
// the end of the log or rewritten with a new chain.
type AuditHead struct {
	Seq  int64
	Hash []byte
}

// String spells the head as SEQ:HEX, the form --anchor reads.
func (h AuditHead) String() string { return fmt.Sprintf("%d:%x", h.Seq, h.Hash) }

// ParseAuditHead reads SEQ:HEX.
func ParseAuditHead(s string) (AuditHead, error) {
	seq, hexHash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 {
		return AuditHead{}, fmt.Errorf("audit anchor %q: want SEQ:HASH, as audit verify prints it (e.g. 42:9f86d0...)", s)
	}
	h, err := hex.DecodeString(hexHash)
	if err != nil || len(h) != sha256.Size {
		return AuditHead{}, fmt.Errorf("audit anchor %q: the hash must be %d hex digits", s, 2*sha256.Size)
	}
	return AuditHead{Seq: n, Hash: h}, nil
}

// VerifyAuditAnchored is VerifyAudit that also checks the chain against an
// anchor (a zero anchor checks nothing more): the entry with the anchor's
// sequence number must exist and carry its hash. It returns the chain's
// last entry.
func VerifyAuditAnchored(ctx context.Context, s Store, anchor AuditHead) (AuditHead, error) {
	var (
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
		case e.Seq == anchor.Seq && !bytes.Equal(e.Hash, anchor.Hash):
			return &AuditProblem{Seq: e.Seq, Reason: "the entry's hash is not the anchor's: the log up to it was rewritten"}
		}
		wantSeq++
		prevHash = e.Hash
		return nil
	})
	head := AuditHead{Seq: wantSeq - 1, Hash: prevHash}
	if err == nil && anchor.Seq > head.Seq {
		err = &AuditProblem{Seq: head.Seq + 1, Reason: fmt.Sprintf("the log ends at entry %d but the anchor names entry %d: entries were removed from the end", head.Seq, anchor.Seq)}
	}
	var p *AuditProblem
	if errors.As(err, &p) {
		return head, p
	}
	return head, err
}
