package acme

import (
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
// lives in the store, so every instance sharing the store issues and
// accepts the same nonces. A nonce is recorded as used when a request
// spends it; that record is what makes it single-use across instances.
//
// Why not redeem in memory at the issuing instance (Boulder's nonce
// prefix, badNonce elsewhere)? Instances behind a balancer that alternates
// requests would then answer badNonce to each other's nonces for ever: the
// retry RFC 8555 §6.5 asks of the client lands on the other instance
// again. conformance/cluster's TestScaleOutOnPostgres alternates requests
// between instances and requires it to work. Redemption is therefore one
// write and no read: INSERT ... ON CONFLICT DO NOTHING, whose row count
// says whether the nonce was new, batched by the recorder below and
// committed with the store's other grouped writes (one fsync for all).
// TestSecondInstance checks a nonce from one instance is good at another
// exactly once.
//
// Layout before base64url: 8 bytes expiry (unix seconds), 8 random bytes,
// 16 bytes HMAC-SHA256 over the first 16.
const (
	// nonceSecretName is the sealed key's name; "nonce-hmac-key", its
	// predecessor stored in plain text, is no longer read.
	nonceSecretName = "nonce-key-sealed"
	nonceLifetime   = time.Hour
	nonceRawLen     = 32
)

type nonces struct {
	keyMu sync.RWMutex // wipe zeroes key while requests MAC with it
	key   []byte       // nil while wiped (the server is sealed)
	store store.ACMEStore
	now   func() time.Time
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
	n := &nonces{key: key, store: st, now: now, spends: make(chan spendReq, maxNonceBatch),
		stop: make(chan struct{}), stopped: make(chan struct{})}
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

func (n *nonces) issue() string {
	var b [nonceRawLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n.now().Add(nonceLifetime).Unix()))
	_, _ = rand.Read(b[8:16])
	copy(b[16:], n.mac(b[:16]))
	return b64.EncodeToString(b[:])
}

// spend checks a nonce and records it as used. Any failure is badNonce,
// which the caller answers with a fresh nonce (RFC 8555 §6.5).
func (n *nonces) spend(ctx context.Context, nonce string) error {
	bad := func(why string) error {
		return newProblem(probBadNonce, http.StatusBadRequest, "the JWS nonce %s; retry with the Replay-Nonce of this response", why)
	}
	if nonce == "" {
		return bad("is missing")
	}
	b, ok := decodeNonce(nonce)
	if !ok || !hmac.Equal(b[16:], n.mac(b[:16])) {
		return bad("was not issued by this server")
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	if !n.now().Before(exp) {
		return bad("has expired")
	}
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
		return bad("was already used")
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
