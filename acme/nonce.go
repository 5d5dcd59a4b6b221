package acme

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vcc/vccpki/store"
)

// Nonces (RFC 8555 §6.5) are MACed, not stored, when issued: the MAC key
// lives in the store, so every instance sharing the store can tell a nonce
// of this CA from a forged one. There are two kinds.
//
// A local nonce names the instance (process) that issued it and a counter;
// only that instance accepts it, and it redeems it in memory (localWindow):
// no store write, no store read, no fsync on the request's path. Another
// instance refuses it (it cannot know whether it was spent), as does this
// one after a restart (a new instance identifier), with badNonce.
//
// A shared nonce is good at any instance once: spending it is one write
// and no read, INSERT ... ON CONFLICT DO NOTHING, whose row count says
// whether the nonce was new, batched by the recorder below and committed
// with the store's other grouped writes (one fsync for all).
//
// Which kind a response carries: local, unless the request's nonce came
// from another instance (a balancer that does not keep a client on one
// instance, or a restart). Then the reply, badNonce or not, carries a
// shared nonce, so the retry RFC 8555 §6.5 asks of the client succeeds
// wherever the balancer sends it: instances behind a balancer that
// alternates requests never answer badNonce to each other for ever
// (conformance/cluster's TestScaleOutOnPostgres alternates and requires
// it), and a client that stays on one instance is back on local nonces
// after one shared one. Boulder routes each nonce to the instance that
// issued it instead (a nonce service); we have no such service, and the
// store is the one thing the instances share. TestSecondInstance checks
// both kinds across two instances.
//
// Layout before base64url: 8 bytes expiry (unix seconds), 1 byte kind,
// 8 bytes instance, 8 bytes counter (local) or random (shared), 16 bytes
// HMAC-SHA256 over the first 25.
const (
	// nonceSecretName is the sealed key's name; "nonce-hmac-key", its
	// predecessor stored in plain text, is no longer read.
	nonceSecretName = "nonce-key-sealed"
	nonceLifetime   = time.Hour
	nonceMACed      = 8 + 1 + 8 + 8
	nonceRawLen     = nonceMACed + 16

	nonceShared byte = 0
	nonceLocal  byte = 1
)

type nonces struct {
	keyMu sync.RWMutex // wipe zeroes key while requests MAC with it
	key   []byte       // nil while wiped (the server is sealed)
	store store.ACMEStore
	now   func() time.Time
	// instance names this process in its nonces: random at start, so a
	// restarted server refuses its predecessor's local nonces, whose
	// window it no longer has.
	instance [8]byte
	local    *localWindow
	// spends queues nonces to record as used. One goroutine records
	// whatever has queued while the previous batch committed, in one
	// transaction (group commit): concurrent requests share a commit, and
	// a lone request waits for nothing but its own.
	spends chan spendReq
	// stop ends the recorder (Server.Close); stopped is closed when it
	// has returned.
	stop     chan struct{}
	stopOnce sync.Once
	stopped  chan struct{}
}

// errStopping answers a nonce spent while the server shuts down.
var errStopping = errors.New("acme: the server is shutting down")

type spendReq struct {
	use  store.NonceUse
	done chan error
}

// maxNonceBatch bounds one batch; more waiting requests go in the next.
const maxNonceBatch = 128

func newNonces(ctx context.Context, st store.ACMEStore, box *SecretBox, now func() time.Time) (*nonces, error) {
	key, err := loadNonceKey(ctx, st, box)
	if err != nil {
		return nil, err
	}
	n := &nonces{key: key, store: st, now: now, local: newLocalWindow(localWindowSize), spends: make(chan spendReq, maxNonceBatch),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if _, err := rand.Read(n.instance[:]); err != nil {
		return nil, err
	}
	go n.record()
	return n, nil
}

// loadNonceKey reads the sealed nonce key, storing a new one first if the
// store has none, and opens it with box.
func loadNonceKey(ctx context.Context, st store.ACMEStore, box *SecretBox) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	sealed, err := box.Seal(nonceSecretName, fresh)
	clear(fresh)
	if err != nil {
		return nil, err
	}
	// Every instance sharing the store uses the key stored first.
	stored, err := st.ACMESecret(ctx, nonceSecretName, sealed)
	if err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	key, _, err := box.Open(nonceSecretName, stored)
	if err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("nonce key in the store is %d bytes, want 32", len(key))
	}
	return key, nil
}

// wipe zeroes the nonce key and drops it (vccpki seal): until reload no
// nonce verifies.
func (n *nonces) wipe() {
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	clear(n.key)
	n.key = nil
}

// reload reads the nonce key again (after an unseal).
func (n *nonces) reload(ctx context.Context, box *SecretBox) error {
	key, err := loadNonceKey(ctx, n.store, box)
	if err != nil {
		return err
	}
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	clear(n.key)
	n.key = key
	return nil
}

// close stops the recorder and waits for it; spends after it fail.
func (n *nonces) close() {
	n.stopOnce.Do(func() { close(n.stop) })
	<-n.stopped
}

// record commits queued spends in batches until close (spend callers
// always get an answer).
func (n *nonces) record() {
	defer close(n.stopped)
	batch := make([]spendReq, 0, maxNonceBatch)
	uses := make([]store.NonceUse, 0, maxNonceBatch)
	for {
		var first spendReq
		select {
		case first = <-n.spends:
		case <-n.stop:
			return
		}
		batch, uses = append(batch[:0], first), append(uses[:0], first.use)
	fill:
		for len(batch) < maxNonceBatch {
			select {
			case r := <-n.spends:
				batch, uses = append(batch, r), append(uses, r.use)
			default:
				break fill
			}
		}
		// Detached from any one request: the batch serves them all.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs, err := n.store.UseNonces(ctx, uses)
		cancel()
		for i, r := range batch {
			if err != nil {
				r.done <- err
			} else {
				r.done <- errs[i]
			}
		}
	}
}

// mac is nil while the key is wiped, which no nonce's MAC equals.
func (n *nonces) mac(b []byte) []byte {
	n.keyMu.RLock()
	defer n.keyMu.RUnlock()
	if n.key == nil {
		return nil
	}
	m := hmac.New(sha256.New, n.key)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// issue returns a local nonce: good once, at this instance only.
func (n *nonces) issue() string {
	return n.mint(nonceLocal, n.local.issue())
}

// issueShared returns a shared nonce: good once, at any instance.
func (n *nonces) issueShared() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return n.mint(nonceShared, binary.BigEndian.Uint64(r[:]))
}

func (n *nonces) mint(kind byte, serial uint64) string {
	var b [nonceRawLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n.now().Add(nonceLifetime).Unix()))
	b[8] = kind
	copy(b[9:17], n.instance[:])
	binary.BigEndian.PutUint64(b[17:25], serial)
	copy(b[nonceMACed:], n.mac(b[:nonceMACed]))
	return b64.EncodeToString(b[:])
}

// spend checks a nonce and records it as used. Any failure is badNonce,
// which the caller answers with a fresh nonce (RFC 8555 §6.5). shared
// says that fresh nonce, and the one of a successful reply, should be a
// shared one: the nonce came from another instance.
func (n *nonces) spend(ctx context.Context, nonce string) (shared bool, err error) {
	if nonce == "" {
		return false, badNonce("is missing")
	}
	b, ok := decodeNonce(nonce)
	if !ok || !hmac.Equal(b[nonceMACed:], n.mac(b[:nonceMACed])) {
		return false, badNonce("was not issued by this server")
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	foreign := !bytes.Equal(b[9:17], n.instance[:])
	switch {
	case !n.now().Before(exp):
		return foreign, badNonce("has expired")
	case b[8] == nonceLocal && foreign:
		return true, badNonce("was issued by another instance of this CA, or before it restarted")
	case b[8] == nonceLocal:
		select {
		case <-n.stop: // as a shared nonce's spend fails after close
			return false, errStopping
		default:
		}
		if !n.local.redeem(binary.BigEndian.Uint64(b[17:25])) {
			return false, badNonce("was already used, or is too old")
		}
		return false, nil
	case b[8] != nonceShared:
		return foreign, badNonce("is of an unknown kind")
	}
	return foreign, n.spendShared(ctx, b, exp)
}

// badNonce is the refusal of a nonce; its reply carries a fresh one
// (RFC 8555 §6.5).
func badNonce(why string) error {
	return newProblem(probBadNonce, http.StatusBadRequest, "the JWS nonce %s; retry with the Replay-Nonce of this response", why)
}

// spendShared records a shared nonce as used in the store, through the
// recorder's batches.
func (n *nonces) spendShared(ctx context.Context, b []byte, exp time.Time) error {
	// Recorded as the one canonical spelling of its bytes, so that no other
	// spelling of the same nonce spends it again.
	req := spendReq{use: store.NonceUse{Nonce: b64.EncodeToString(b), Expires: exp}, done: make(chan error, 1)}
	select {
	case n.spends <- req:
	case <-n.stop:
		return errStopping
	case <-ctx.Done():
		return ctx.Err()
	}
	var err error
	select {
	case err = <-req.done:
	case <-n.stopped:
		select {
		case err = <-req.done: // answered just before the recorder stopped
		default:
			return errStopping
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if errors.Is(err, store.ErrConflict) {
		return badNonce("was already used")
	}
	return err
}

// decodeNonce reads a nonce strictly: base64url without padding, only
// alphabet characters (the decoder would skip CR and LF), no stray bits in
// the last character, exactly nonceRawLen bytes. Every nonce thus has one
// spelling (RFC 8555 §6.5.1: the value is base64url; §6.5: used once).
func decodeNonce(nonce string) ([]byte, bool) {
	if len(nonce) != b64.EncodedLen(nonceRawLen) {
		return nil, false
	}
	for i := 0; i < len(nonce); i++ {
		c := nonce[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return nil, false
		}
	}
	b, err := b64.Strict().DecodeString(nonce)
	return b, err == nil && len(b) == nonceRawLen
}
