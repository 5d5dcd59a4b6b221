package ocsp_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ocsp"
)

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestSharedPresigning runs a second responder on the store of a first,
// as a second instance on one database: its pre-signing pass takes the
// responses the first signed and stored, and signs none itself.
func TestSharedPresigning(t *testing.T) {
	s := newStack(t, stackOptions{shareOCSP: true})
	var serials []string
	for i := range 10 {
		iss := s.issue(t, "argus", "shared"+string(rune('a'+i))+".argus.test")
		serials = append(serials, ca.FormatSerial(iss.Certificate.SerialNumber))
	}
	revoked := s.issue(t, "argus", "shared-revoked.argus.test")
	s.revokeElsewhere(t, revoked.Certificate.SerialNumber, ca.KeyCompromise)
	serials = append(serials, ca.FormatSerial(revoked.Certificate.SerialNumber))
	// The first responder signs each as it follows the change feed, and
	// stores them for the others.
	eventually(t, "the first responder stores its responses", func() bool {
		rs, err := s.store.OCSPResponses(context.Background(), ca.ServicesCA, "sha1", serials)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rs {
			if r.Serial != serials[len(serials)-1] || r.Revoked {
				n++
			}
		}
		return n == len(serials)
	})

	reg := prometheus.NewRegistry()
	// The first responder has rebuilt its CRL after the revocation and
	// stored it.
	eventually(t, "the first responder stores its CRL with the revocation", func() bool {
		sc, err := s.store.LatestCRL(context.Background(), ca.ServicesCA, 0)
		return err == nil && sc.Entries == 1
	})
	second, err := ocsp.New(s.engine, ocsp.Config{Shared: s.store, SharedCRLs: s.store, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { second.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-second.Ready():
	case <-time.After(time.Minute):
		t.Fatal("the second responder's pre-signing pass did not finish")
	}
	if got := counter(t, reg, "vccpki_ocsp_presigned_shared_total"); got != float64(len(serials)) {
		t.Errorf("the second responder took %v responses from the store, want %d", got, len(serials))
	}
	if got := counter(t, reg, "vccpki_ocsp_presigned_total"); got != 0 {
		t.Errorf("the second responder signed %v responses itself, want 0", got)
	}
	// Its CRLs: the stored ones (every CRL the first built is stored, and
	// none is due), none built here. The stored CRL includes the
	// revocation.
	eventually(t, "the second responder serves its CRLs", func() bool {
		return counter(t, reg, "vccpki_crl_shared_total")+counter(t, reg, "vccpki_crl_builds_total") >= 3
	})
	if built := counter(t, reg, "vccpki_crl_builds_total"); built != 0 {
		t.Errorf("the second responder built %v CRLs, want 0 (all stored by the first)", built)
	}
	sc, err := s.store.LatestCRL(context.Background(), ca.ServicesCA, 0)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(sc.DER)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(revoked.Certificate.SerialNumber) != 0 {
		t.Errorf("stored CRL entries %+v, want the one revoked certificate", crl.RevokedCertificateEntries)
	}
}
