package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// ACMEStore is what the ACME contract suite needs: the ACME state and the
// certificates it refers to.
type ACMEStore interface {
	store.Store
	store.ACMEStore
}

// RunACME runs the store.ACMEStore contract suite. open must return a new,
// empty store for each call.
func RunACME(t *testing.T, open func(t *testing.T) ACMEStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ACMEStore)
	}{
		{"SecretIsSharedAndStable", testACMESecret},
		{"NonceSingleUse", testNonceSingleUse},
		{"NonceConcurrentUse", testNonceConcurrentUse},
		{"NoncePrune", testNoncePrune},
		{"EABKeyBindsOnce", testEABKeyBindsOnce},
		{"EABKeysListedAndRevoked", testEABKeysRevoked},
		{"AccountKeyUnique", testAccountKeyUnique},
		{"AccountUpdateGuarded", testAccountUpdateGuarded},
		{"OrderLifecycle", testOrderLifecycle},
		{"OrderUpdateGuarded", testOrderUpdateGuarded},
		{"OrderIDsPaging", testOrderIDsPaging},
		{"ReplacesOnce", testReplacesOnce},
		{"CertificateAlongCompletesOrder", testCertificateAlong},
		{"PruneOrders", testPruneOrders},
		{"AuthzGuardedAndCounted", testAuthzGuarded},
		{"NotFound", testACMENotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testACMESecret(t *testing.T, s ACMEStore) {
	a, err := s.ACMESecret(ctx(t), "nonce", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.ACMESecret(ctx(t), "nonce", []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != "first" || string(b) != "first" {
		t.Fatalf("secret = %q then %q, want the first value twice", a, b)
	}
	if c, err := s.ACMESecret(ctx(t), "nonce", nil); err != nil || string(c) != "first" {
		t.Fatalf("reading the secret: %q, %v", c, err)
	}
	wantErr(t, "reading a secret that does not exist", func() error { _, err := s.ACMESecret(ctx(t), "absent", nil); return err }(), store.ErrNotFound)
	if d, err := s.ACMESecret(ctx(t), "absent", []byte("now")); err != nil || string(d) != "now" {
		t.Fatalf("after a read of an absent secret: %q, %v; the read must not have stored one", d, err)
	}
}

// useNonce spends one nonce.
func useNonce(t *testing.T, s ACMEStore, nonce string, exp time.Time) error {
	t.Helper()
	errs, err := s.UseNonces(ctx(t), []store.NonceUse{{Nonce: nonce, Expires: exp}})
	if err != nil {
		t.Fatalf("UseNonces: %v", err)
	}
	return errs[0]
}

func testNonceSingleUse(t *testing.T, s ACMEStore) {
	if err := useNonce(t, s, "n1", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second use", useNonce(t, s, "n1", base.Add(time.Hour)), store.ErrConflict)
	if err := useNonce(t, s, "n2", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// In one batch: the repeated nonce and the one used before fail, the
	// new one is recorded.
	h := base.Add(time.Hour)
	errs, err := s.UseNonces(ctx(t), []store.NonceUse{{Nonce: "n3", Expires: h}, {Nonce: "n3", Expires: h}, {Nonce: "n1", Expires: h}, {Nonce: "n4", Expires: h}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, store.ErrConflict, store.ErrConflict, nil} {
		if (want == nil) != (errs[i] == nil) || (want != nil && !errors.Is(errs[i], want)) {
			t.Errorf("batch result %d: %v, want %v", i, errs[i], want)
		}
	}
}

func testNonceConcurrentUse(t *testing.T, s ACMEStore) {
	const racers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range racers {
		wg.Go(func() {
			if useNonce(t, s, "contested", base.Add(time.Hour)) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent uses of one nonce succeeded, want exactly 1", wins, racers)
	}
}

func testNoncePrune(t *testing.T, s ACMEStore) {
	for i, exp := range []time.Time{base, base.Add(time.Minute), base.Add(time.Hour)} {
		if err := useNonce(t, s, fmt.Sprint("n", i), exp); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneNonces(ctx(t), base.Add(30*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PruneNonces = %d, %v; want 2", n, err)
	}
	wantErr(t, "unpruned nonce reused", useNonce(t, s, "n2", base.Add(time.Hour)), store.ErrConflict)
}

func account(id store.AccountID) store.ACMEAccount {
	return store.ACMEAccount{ID: id, Thumbprint: "tp-" + string(id), JWK: []byte(`{"kty":"EC"}`), Status: "valid",
		Contact: []string{"mailto:" + string(id) + "@example.test"}, CreatedAt: base}
}

func mustAccount(t *testing.T, s ACMEStore, a store.ACMEAccount) {
	t.Helper()
	if err := s.CreateAccount(ctx(t), a, ev("acme.account", string(a.ID))); err != nil {
		t.Fatalf("CreateAccount(%s): %v", a.ID, err)
	}
}

func testEABKeyBindsOnce(t *testing.T, s ACMEStore) {
	k := store.EABKey{KeyID: "kid1", HMAC: []byte("secret"), Service: "argus", CreatedAt: base}
	if err := s.CreateEABKey(ctx(t), k, ev("eab.create", k.KeyID)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "duplicate EAB key", s.CreateEABKey(ctx(t), k, ev("eab.create", k.KeyID)), store.ErrConflict)
	a := account("a1")
	a.EABKeyID, a.Service = "kid1", "argus"
	mustAccount(t, s, a)
	got, err := s.EABKey(ctx(t), "kid1")
	if err != nil || got.AccountID != "a1" || !bytes.Equal(got.HMAC, k.HMAC) || got.Service != "argus" || !got.CreatedAt.Equal(base) {
		t.Fatalf("EABKey = %+v, %v; want bound to a1", got, err)
	}
	b := account("a2")
	b.EABKeyID = "kid1"
	wantErr(t, "second account on one EAB key", s.CreateAccount(ctx(t), b, ev("acme.account", "a2")), store.ErrConflict)
	wantErr(t, "refused account not stored", func() error { _, err := s.Account(ctx(t), "a2"); return err }(), store.ErrNotFound)
	c := account("a3")
	c.EABKeyID = "no-such-kid"
	wantErr(t, "unknown EAB key", s.CreateAccount(ctx(t), c, ev("acme.account", "a3")), store.ErrConflict)
}

func testEABKeysRevoked(t *testing.T, s ACMEStore) {
	for i, kid := range []string{"kid-unused", "kid-bound"} {
		k := store.EABKey{KeyID: kid, HMAC: []byte("secret"), Service: "argus", CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := s.CreateEABKey(ctx(t), k, ev("eab.create", kid)); err != nil {
			t.Fatal(err)
		}
	}
	a := account("a1")
	a.EABKeyID, a.Service = "kid-bound", "argus"
	mustAccount(t, s, a)
	keys, err := s.EABKeys(ctx(t))
	if err != nil || len(keys) != 2 || keys[0].KeyID != "kid-unused" || keys[1].AccountID != "a1" || keys[0].HMAC != nil || !keys[1].CreatedAt.Equal(base.Add(time.Second)) {
		t.Fatalf("EABKeys = %+v, %v", keys, err)
	}
	if acct, err := s.RevokeEABKey(ctx(t), "kid-unused", ev("eab.revoke", "kid-unused")); err != nil || acct != "" {
		t.Fatalf("revoking an unused key: %q, %v", acct, err)
	}
	if acct, err := s.RevokeEABKey(ctx(t), "kid-bound", ev("eab.revoke", "kid-bound")); err != nil || acct != "a1" {
		t.Fatalf("revoking a bound key: %q, %v", acct, err)
	}
	if got, err := s.Account(ctx(t), "a1"); err != nil || got.Status != "revoked" {
		t.Fatalf("the bound account after revocation: %+v, %v", got, err)
	}
	wantErr(t, "revoking twice", func() error { _, err := s.RevokeEABKey(ctx(t), "kid-bound", ev("eab.revoke", "kid-bound")); return err }(), store.ErrNotFound)
	wantErr(t, "a revoked key is gone", func() error { _, err := s.EABKey(ctx(t), "kid-unused"); return err }(), store.ErrNotFound)
	if keys, err := s.EABKeys(ctx(t)); err != nil || len(keys) != 0 {
		t.Fatalf("EABKeys after revocation = %+v, %v", keys, err)
	}
}

func testAccountKeyUnique(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	dup := account("a2")
	dup.Thumbprint = "tp-a1"
	wantErr(t, "same key twice", s.CreateAccount(ctx(t), dup, ev("acme.account", "a2")), store.ErrConflict)
	got, err := s.AccountByKey(ctx(t), "tp-a1")
	if err != nil || got.ID != "a1" || !slices.Equal(got.Contact, []string{"mailto:a1@example.test"}) || !got.CreatedAt.Equal(base) {
		t.Fatalf("AccountByKey = %+v, %v", got, err)
	}
}

func testAccountUpdateGuarded(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	mustAccount(t, s, account("a2"))
	a, _ := s.Account(ctx(t), "a1")
	a.Thumbprint = "tp-a2"
	wantErr(t, "key of another account", s.UpdateAccount(ctx(t), a, "valid", ev("acme.key-change", "a1")), store.ErrConflict)
	a.Thumbprint, a.Contact = "tp-new", nil
	if err := s.UpdateAccount(ctx(t), a, "valid", ev("acme.key-change", "a1")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AccountByKey(ctx(t), "tp-new"); err != nil || got.ID != "a1" || got.Contact != nil {
		t.Fatalf("after key change: %+v, %v", got, err)
	}
	a.Status = "deactivated"
	if err := s.UpdateAccount(ctx(t), a, "valid", ev("acme.deactivate", "a1")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "stale status", s.UpdateAccount(ctx(t), a, "valid", ev("acme.deactivate", "a1")), store.ErrConflict)
	a.ID = "none"
	wantErr(t, "unknown account", s.UpdateAccount(ctx(t), a, "valid", ev("acme.deactivate", "none")), store.ErrNotFound)
}

func order(id store.OrderID, acct store.AccountID, created time.Time) store.ACMEOrder {
	return store.ACMEOrder{ID: id, AccountID: acct, Status: "pending", Expires: created.Add(time.Hour), CreatedAt: created, Data: []byte(`{"o":"` + string(id) + `"}`)}
}

func authz(id store.AuthzID, acct store.AccountID) store.ACMEAuthz {
	return store.ACMEAuthz{ID: id, AccountID: acct, Status: "pending", Identifier: "dns:" + string(id) + ".test", Expires: base.Add(time.Hour), Data: []byte(`{"a":"` + string(id) + `"}`)}
}

func testOrderLifecycle(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	o := order("o1", "a1", base)
	if err := s.CreateOrder(ctx(t), o, []store.ACMEAuthz{authz("z1", "a1"), authz("z2", "a1")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Order(ctx(t), "o1")
	if err != nil || got.Status != "pending" || !bytes.Equal(got.Data, o.Data) || !got.Expires.Equal(o.Expires) || !got.CreatedAt.Equal(base) {
		t.Fatalf("Order = %+v, %v", got, err)
	}
	z, err := s.Authz(ctx(t), "z2")
	if err != nil || z.OrderID != "o1" || z.AccountID != "a1" || z.Identifier != "dns:z2.test" || string(z.Data) != `{"a":"z2"}` {
		t.Fatalf("Authz = %+v, %v", z, err)
	}
	o.Status = "processing"
	if err := s.UpdateOrder(ctx(t), o, "pending"); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, Cert(Serial(1), "services", "default", base, base.Add(time.Hour)))
	o.Status, o.Data = "valid", []byte(`{"cert":"1"}`)
	if err := s.CompleteOrder(ctx(t), o, "processing", store.ACMECertificate{Serial: Serial(1), AccountID: "a1", OrderID: "o1"}); err != nil {
		t.Fatal(err)
	}
	c, err := s.ACMECertificate(ctx(t), Serial(1))
	if err != nil || c.AccountID != "a1" || c.OrderID != "o1" || c.ReplacedBy != "" {
		t.Fatalf("ACMECertificate = %+v, %v", c, err)
	}
	if n, err := s.CountOrders(ctx(t), "a1", base); err != nil || n != 1 {
		t.Fatalf("CountOrders = %d, %v", n, err)
	}
	if n, err := s.CountOrders(ctx(t), "a1", base.Add(time.Second)); err != nil || n != 0 {
		t.Fatalf("CountOrders after = %d, %v", n, err)
	}
}

func testOrderUpdateGuarded(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	o := order("o1", "a1", base)
	if err := s.CreateOrder(ctx(t), o, nil); err != nil {
		t.Fatal(err)
	}
	// Two finalize requests race: exactly one moves ready -> processing.
	o.Status = "ready"
	if err := s.UpdateOrder(ctx(t), o, "pending"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			p := o
			p.Status = "processing"
			errs[i] = s.UpdateOrder(ctx(t), p, "ready")
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantErr(t, "losing finalize", err, store.ErrConflict)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent ready->processing transitions succeeded, want 1", ok)
	}
	o.ID = "none"
	wantErr(t, "unknown order", s.UpdateOrder(ctx(t), o, "ready"), store.ErrNotFound)
}

func testOrderIDsPaging(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	mustAccount(t, s, account("a2"))
	var want []store.OrderID
	for i := range 5 {
		id := store.OrderID(fmt.Sprint("o", i))
		if err := s.CreateOrder(ctx(t), order(id, "a1", base.Add(time.Duration(i)*time.Second)), nil); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := s.CreateOrder(ctx(t), order("other", "a2", base), nil); err != nil {
		t.Fatal(err)
	}
	first, err := s.OrderIDs(ctx(t), "a1", "", 2)
	if err != nil || !slices.Equal(first, want[:2]) {
		t.Fatalf("first page = %v, %v; want %v", first, err, want[:2])
	}
	rest, err := s.OrderIDs(ctx(t), "a1", first[1], 0)
	if err != nil || !slices.Equal(rest, want[2:]) {
		t.Fatalf("rest = %v, %v; want %v", rest, err, want[2:])
	}
}

// testReplacesOnce: a certificate is marked replaced when a replacing
// order starts issuance, not when it is created; a replacement that fails
// lets the next one through (RFC 9773 §5).
func testReplacesOnce(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	if err := s.CreateOrder(ctx(t), order("o1", "a1", base), nil); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, Cert(Serial(1), "services", "default", base, base.Add(time.Hour)), Cert(Serial(2), "services", "default", base, base.Add(time.Hour)))
	o1, _ := s.Order(ctx(t), "o1")
	o1.Status = "valid"
	if err := s.CompleteOrder(ctx(t), o1, "pending", store.ACMECertificate{Serial: Serial(1), AccountID: "a1", OrderID: "o1"}); err != nil {
		t.Fatal(err)
	}
	replacing := func(id store.OrderID) store.ACMEOrder {
		o := order(id, "a1", base)
		o.Replaces = Serial(1)
		return o
	}
	replacedBy := func(want store.OrderID) {
		t.Helper()
		if c, _ := s.ACMECertificate(ctx(t), Serial(1)); c.ReplacedBy != want {
			t.Fatalf("ReplacedBy = %q, want %q", c.ReplacedBy, want)
		}
	}
	o2, o3 := replacing("o2"), replacing("o3")
	for _, o := range []store.ACMEOrder{o2, o3} {
		if err := s.CreateOrder(ctx(t), o, []store.ACMEAuthz{authz(store.AuthzID("z"+o.ID), "a1")}); err != nil {
			t.Fatalf("creating two pending replacements: %v", err)
		}
	}
	replacedBy("")
	o2.Status = "processing"
	if err := s.UpdateOrder(ctx(t), o2, "pending"); err != nil {
		t.Fatal(err)
	}
	replacedBy("o2")
	o3.Status = "processing"
	wantErr(t, "finalizing a second replacement", s.UpdateOrder(ctx(t), o3, "pending"), store.ErrAlreadyReplaced)
	if got, _ := s.Order(ctx(t), "o3"); got.Status != "pending" {
		t.Fatalf("refused replacement's status = %s, want pending (unchanged)", got.Status)
	}
	// The first replacement fails: the certificate may be replaced again.
	o2.Status = "invalid"
	if err := s.UpdateOrder(ctx(t), o2, "processing"); err != nil {
		t.Fatal(err)
	}
	replacedBy("")
	if err := s.UpdateOrder(ctx(t), o3, "pending"); err != nil {
		t.Fatal(err)
	}
	o3.Status = "valid"
	if err := s.CompleteOrder(ctx(t), o3, "processing", store.ACMECertificate{Serial: Serial(2), AccountID: "a1", OrderID: "o3"}); err != nil {
		t.Fatal(err)
	}
	replacedBy("o3")
	wantErr(t, "replacing a replaced certificate", s.CreateOrder(ctx(t), replacing("o4"), []store.ACMEAuthz{authz("z4", "a1")}), store.ErrAlreadyReplaced)
	wantErr(t, "refused order not stored", func() error { _, err := s.Order(ctx(t), "o4"); return err }(), store.ErrNotFound)
	wantErr(t, "refused order's authz not stored", func() error { _, err := s.Authz(ctx(t), "z4"); return err }(), store.ErrNotFound)
	o5 := order("o5", "a1", base)
	o5.Replaces = Serial(99)
	wantErr(t, "replacing a non-ACME certificate", s.CreateOrder(ctx(t), o5, nil), store.ErrNotFound)
}

// testCertificateAlong: a certificate inserted with its order's
// completion commits both with its audit entry, or none of the three.
func testCertificateAlong(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	processing := func(id store.OrderID) store.ACMEOrder {
		t.Helper()
		if err := s.CreateOrder(ctx(t), order(id, "a1", base), nil); err != nil {
			t.Fatal(err)
		}
		o, _ := s.Order(ctx(t), id)
		o.Status = "processing"
		if err := s.UpdateOrder(ctx(t), o, "pending"); err != nil {
			t.Fatal(err)
		}
		return o
	}
	audited := func(serial string) int {
		t.Helper()
		n := 0
		if err := s.WalkAudit(ctx(t), func(e store.AuditEntry) error {
			if e.Object == serial {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	complete := func(o store.ACMEOrder, serial string) store.Along {
		o.Status = "valid"
		return s.CompleteOrderAlong(o, "processing", store.ACMECertificate{Serial: serial, AccountID: "a1", OrderID: o.ID})
	}
	cert := func(i int) store.Certificate {
		return Cert(Serial(i), "services", "default", base, base.Add(time.Hour))
	}

	o1 := processing("o1")
	if err := s.InsertCertificateAlong(ctx(t), cert(1), ev("issue", Serial(1)), complete(o1, Serial(1))); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Order(ctx(t), "o1"); got.Status != "valid" {
		t.Errorf("order status = %s, want valid", got.Status)
	}
	if c, err := s.ACMECertificate(ctx(t), Serial(1)); err != nil || c.OrderID != "o1" {
		t.Errorf("ACME certificate = %+v, %v; want order o1", c, err)
	}
	if n := audited(Serial(1)); n != 1 {
		t.Errorf("%d audit entries for the certificate, want 1", n)
	}

	// The order is no longer processing: the completion fails, and the
	// certificate and its audit entry are undone with it.
	o2 := processing("o2")
	o2.Status = "invalid"
	if err := s.UpdateOrder(ctx(t), o2, "processing"); err != nil {
		t.Fatal(err)
	}
	err := s.InsertCertificateAlong(ctx(t), cert(2), ev("issue", Serial(2)), complete(o2, Serial(2)))
	wantErr(t, "completing an order no longer processing", err, store.ErrAlongFailed)
	wantErr(t, "completing an order no longer processing", err, store.ErrConflict)
	wantErr(t, "certificate of a failed completion", func() error { _, err := s.Certificate(ctx(t), Serial(2)); return err }(), store.ErrNotFound)
	wantErr(t, "ACME record of a failed completion", func() error { _, err := s.ACMECertificate(ctx(t), Serial(2)); return err }(), store.ErrNotFound)
	if n := audited(Serial(2)); n != 0 {
		t.Errorf("%d audit entries for an undone certificate, want 0", n)
	}

	// A serial collision is the certificate's conflict, not the order's:
	// the order stays processing for a retry with another serial.
	o3 := processing("o3")
	err = s.InsertCertificateAlong(ctx(t), cert(1), ev("issue", Serial(1)), complete(o3, Serial(1)))
	wantErr(t, "a used serial", err, store.ErrConflict)
	if errors.Is(err, store.ErrAlongFailed) {
		t.Errorf("a serial collision reads as the completion's failure: %v", err)
	}
	if got, _ := s.Order(ctx(t), "o3"); got.Status != "processing" {
		t.Errorf("order status after a serial collision = %s, want processing", got.Status)
	}
	if n := audited(Serial(1)); n != 1 {
		t.Errorf("%d audit entries for serial 1 after the collision, want 1", n)
	}
}

// testPruneOrders: expired orders without a certificate go with their
// authorizations; an order with a certificate, and anything not expired
// before the cut-off, stays.
func testPruneOrders(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	mk := func(id store.OrderID, expires time.Time, authzExpires ...time.Time) {
		t.Helper()
		o := order(id, "a1", base)
		o.Expires = expires
		var zs []store.ACMEAuthz
		for i, e := range authzExpires {
			z := authz(store.AuthzID(fmt.Sprint(id, "z", i)), "a1")
			z.Expires = e
			zs = append(zs, z)
		}
		if err := s.CreateOrder(ctx(t), o, zs); err != nil {
			t.Fatal(err)
		}
	}
	cut := base.Add(48 * time.Hour)
	old, recent := base.Add(time.Hour), cut.Add(time.Hour)
	mk("dead", old, old, old)    // abandoned: goes
	mk("dead2", old)             // no authorizations: goes
	mk("issued", old, old)       // has a certificate: stays, its authorization goes
	mk("alive", recent, recent)  // not expired before the cut: stays
	mk("longauthz", old, recent) // its authorization outlives the cut: both stay
	mustInsert(t, s, Cert(Serial(1), "services", "default", base, base.Add(time.Hour)))
	issued, _ := s.Order(ctx(t), "issued")
	issued.Status = "valid"
	if err := s.CompleteOrder(ctx(t), issued, "pending", store.ACMECertificate{Serial: Serial(1), AccountID: "a1", OrderID: "issued"}); err != nil {
		t.Fatal(err)
	}
	var orders, authzs int64
	for {
		o, a, err := s.PruneOrders(ctx(t), cut, 1) // a batch of one: callers loop
		if err != nil {
			t.Fatal(err)
		}
		orders, authzs = orders+o, authzs+a
		if o < 1 && a < 1 {
			break
		}
	}
	if orders != 2 || authzs != 3 {
		t.Fatalf("PruneOrders deleted %d orders and %d authorizations, want 2 and 3", orders, authzs)
	}
	for id, want := range map[store.OrderID]error{"dead": store.ErrNotFound, "dead2": store.ErrNotFound, "issued": nil, "alive": nil, "longauthz": nil} {
		if _, err := s.Order(ctx(t), id); !errors.Is(err, want) {
			t.Errorf("order %s after pruning: %v, want %v", id, err, want)
		}
	}
	for id, want := range map[store.AuthzID]error{"deadz0": store.ErrNotFound, "deadz1": store.ErrNotFound, "issuedz0": store.ErrNotFound, "alivez0": nil, "longauthzz0": nil} {
		if _, err := s.Authz(ctx(t), id); !errors.Is(err, want) {
			t.Errorf("authz %s after pruning: %v, want %v", id, err, want)
		}
	}
	if c, err := s.ACMECertificate(ctx(t), Serial(1)); err != nil || c.OrderID != "issued" {
		t.Fatalf("certificate record after pruning: %+v, %v", c, err)
	}
}

func testAuthzGuarded(t *testing.T, s ACMEStore) {
	mustAccount(t, s, account("a1"))
	expired := authz("z3", "a1")
	expired.Expires = base.Add(-time.Minute)
	if err := s.CreateOrder(ctx(t), order("o1", "a1", base), []store.ACMEAuthz{authz("z1", "a1"), authz("z2", "a1"), expired}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountPendingAuthzs(ctx(t), "a1", base); err != nil || n != 2 {
		t.Fatalf("CountPendingAuthzs = %d, %v; want 2", n, err)
	}
	z, _ := s.Authz(ctx(t), "z1")
	z.Status, z.Data = "valid", []byte(`{"done":true}`)
	if err := s.UpdateAuthz(ctx(t), z, "pending"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "stale authz update", s.UpdateAuthz(ctx(t), z, "pending"), store.ErrConflict)
	if got, _ := s.Authz(ctx(t), "z1"); got.Status != "valid" || string(got.Data) != `{"done":true}` {
		t.Fatalf("authz after update = %+v", got)
	}
	if n, _ := s.CountPendingAuthzs(ctx(t), "a1", base); n != 1 {
		t.Fatalf("CountPendingAuthzs after validation = %d, want 1", n)
	}
	for _, tc := range []struct {
		account    store.AccountID
		identifier string
		at         time.Time
		want       bool
	}{
		{"a1", "dns:z1.test", base, true},
		{"a1", "dns:z1.test", base.Add(2 * time.Hour), false}, // expired
		{"a1", "dns:z2.test", base, false},                    // still pending
		{"a2", "dns:z1.test", base, false},                    // another account
	} {
		if got, err := s.HasValidAuthz(ctx(t), tc.account, tc.identifier, tc.at); err != nil || got != tc.want {
			t.Errorf("HasValidAuthz(%s, %s, %v) = %v, %v; want %v", tc.account, tc.identifier, tc.at, got, err, tc.want)
		}
	}
}

func testACMENotFound(t *testing.T, s ACMEStore) {
	for name, err := range map[string]error{
		"EABKey":          func() error { _, err := s.EABKey(ctx(t), "x"); return err }(),
		"Account":         func() error { _, err := s.Account(ctx(t), "x"); return err }(),
		"AccountByKey":    func() error { _, err := s.AccountByKey(ctx(t), "x"); return err }(),
		"Order":           func() error { _, err := s.Order(ctx(t), "x"); return err }(),
		"Authz":           func() error { _, err := s.Authz(ctx(t), "x"); return err }(),
		"ACMECertificate": func() error { _, err := s.ACMECertificate(ctx(t), "0a"); return err }(),
	} {
		wantErr(t, name, err, store.ErrNotFound)
	}
}
