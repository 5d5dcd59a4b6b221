package ca_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

// requestRollover is vccpki ca rollover --request-out on o.
func (o *offlineSide) requestRollover(t *testing.T, name string) *ca.CARequestFile {
	t.Helper()
	rf, err := ca.RequestRollover(context.Background(), o.st, o.ks, o.cfg, ca.RolloverCARequest{Name: name}, filepath.Join(o.dir, ca.PendingCADir), "test")
	if err != nil {
		t.Fatalf("RequestRollover(%s): %v", name, err)
	}
	// Carried through its file, as the commands do.
	b, _ := rf.Marshal()
	if rf, err = ca.ParseCARequest(b); err != nil {
		t.Fatal(err)
	}
	return rf
}

func (o *offlineSide) importArt(art *ca.Artefact) (string, error) {
	return ca.ImportArtefact(context.Background(), o.st, o.ks, o.cfg, filepath.Join(o.dir, ca.PendingCADir), art, "test")
}

// TestCeremonyRollover: a CA below the offline root rolls over through a
// request, the root's signature and an import: the new generation has the
// pending key, a new SKI, the same subject and constraints, chains to the
// root, and gets an OCSP responder of its own; the old one is retired.
func TestCeremonyRollover(t *testing.T) {
	ctx := context.Background()
	o := newOfflineSide(t)
	e := o.engine(t, nil)
	pending := filepath.Join(o.dir, ca.PendingCADir)
	if _, err := ca.RolloverCA(ctx, o.st, o.ks, o.cfg, ca.RolloverCARequest{Name: ca.ServicesCA}, "test"); !errors.Is(err, caerr.Conflict) || !strings.Contains(err.Error(), "--request-out") {
		t.Errorf("an online rollover below the offline root: %v, want a refusal naming --request-out", err)
	}
	// A constrained CA below the root, made by a ceremony.
	stale := o.state(t) // exported before the partner CA exists
	crf, err := ca.RequestCA(ctx, o.st, o.ks, o.cfg, ca.CreateCARequest{Name: "partner", Parent: ca.RootCA, PermittedDNS: []string{".partner.example"}}, pending, "test")
	if err != nil {
		t.Fatal(err)
	}
	art, err := o.host(t).SignCA(ctx, o.state(t), o.cfg, crf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.importArt(art); err != nil {
		t.Fatal(err)
	}
	oldCA, _ := x509.ParseCertificate(art.DER)

	rf := o.requestRollover(t, "partner")
	if rf.Generation != 2 || !rf.Rollover {
		t.Fatalf("request generation %d rollover %v", rf.Generation, rf.Rollover)
	}
	if _, err := ca.RequestRollover(ctx, o.st, o.ks, o.cfg, ca.RolloverCARequest{Name: "partner"}, pending, "test"); !errors.Is(err, caerr.Conflict) {
		t.Errorf("a second pending rollover: %v", err)
	}
	if _, err := o.host(t).SignCA(ctx, o.state(t), o.cfg, rf); !errors.Is(err, caerr.Conflict) {
		t.Errorf("ceremony create-ca of a rollover request: %v", err)
	}
	if _, err := o.host(t).SignRollover(ctx, o.state(t), o.cfg, crf); !errors.Is(err, caerr.Conflict) {
		t.Errorf("ceremony rollover of a create request: %v", err)
	}

	// Widened: a certificate for the pending key, same subject, signed by
	// this root, but without the name constraints (the root's host signed
	// a "new CA" request built from the rollover's key on stale state).
	wide := *rf
	wide.Rollover, wide.Generation, wide.PermittedDNS = false, 0, nil
	wideArt, err := o.host(t).SignCA(ctx, stale, o.cfg, &wide)
	if err != nil {
		t.Fatal(err)
	}
	wideArt.Kind = ca.ArtefactCARollover

	good, err := o.host(t).SignRollover(ctx, o.state(t), o.cfg, rf)
	if err != nil {
		t.Fatalf("SignRollover: %v", err)
	}
	tampered := *good
	tampered.DER = bytes.Clone(good.DER)
	tampered.DER[len(tampered.DER)-3] ^= 1

	// Another hierarchy's rollover of its own partner-less services CA.
	o2 := newOfflineSide(t)
	other, err := o2.host(t).SignRollover(ctx, o2.state(t), o2.cfg, o2.requestRollover(t, ca.ServicesCA))
	if err != nil {
		t.Fatal(err)
	}
	other.Name = "partner"
	otherSameFP := *other
	otherSameFP.RootSHA256 = good.RootSHA256

	asNewCA := *good
	asNewCA.Kind = ca.ArtefactCACert

	for _, tc := range []struct {
		name string
		art  *ca.Artefact
		want error
		msg  string
	}{
		{"tampered", &tampered, caerr.Unauthorized, "not signed by this hierarchy's root"},
		{"another hierarchy", other, caerr.Conflict, "another hierarchy"},
		{"signed by another root", &otherSameFP, caerr.Unauthorized, "not signed by this hierarchy's root"},
		{"widened constraints", wideArt, caerr.Conflict, "name constraints differ"},
		{"as a new CA", &asNewCA, caerr.Conflict, "is for a rollover"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := o.importArt(tc.art); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("import: %v, want %v (%q)", err, tc.want, tc.msg)
			}
		})
	}

	msg, err := o.importArt(good)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	t.Log(msg)
	if _, err := os.Stat(filepath.Join(pending, "partner.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pending request is still there: %v", err)
	}
	if _, err := o.importArt(good); !errors.Is(err, caerr.NotFound) {
		t.Errorf("a second import (no pending request): %v", err)
	}
	if _, err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	newCA, _ := e.CACert("partner")
	if bytes.Equal(newCA.SubjectKeyId, oldCA.SubjectKeyId) || !bytes.Equal(newCA.RawSubject, oldCA.RawSubject) ||
		newCA.MaxPathLen != oldCA.MaxPathLen || newCA.MaxPathLenZero != oldCA.MaxPathLenZero ||
		!slices.Equal(newCA.PermittedDNSDomains, oldCA.PermittedDNSDomains) || !newCA.PermittedDNSDomainsCritical {
		t.Errorf("new generation: SKI %x (old %x), subject %q (old %q), path len %d (old %d), permitted %v (old %v)",
			newCA.SubjectKeyId, oldCA.SubjectKeyId, newCA.Subject, oldCA.Subject, newCA.MaxPathLen, oldCA.MaxPathLen,
			newCA.PermittedDNSDomains, oldCA.PermittedDNSDomains)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.Root())
	if _, err := newCA.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("the new generation does not chain to the root: %v", err)
	}
	if gens := e.CACertGenerations("partner"); len(gens) != 2 || !gens[1].Equal(oldCA) {
		t.Errorf("CA generations %d, want the new and the retired one", len(gens))
	}
	if r, ok := e.CACert(ca.OCSPResponderName("partner")); !ok || r.CheckSignatureFrom(newCA) != nil {
		t.Error("the new generation has no OCSP responder signed by it")
	}
	retired, err := o.st.RetiredCAs(ctx)
	if err != nil || len(retired) != 1 || retired[0].Name != "partner" {
		t.Errorf("retired generations %v (%v)", names(retired), err)
	}
	// The import signed the link certificate with the previous
	// generation's online key, as RolloverCA does.
	link, ok := e.GenerationLink(ca.GenerationIssuer("partner", 2))
	if !ok {
		t.Fatal("the imported generation has no link certificate")
	}
	checkLink(t, link, oldCA, newCA, e.Root())
}

func names(recs []store.CARecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Name)
	}
	return out
}
