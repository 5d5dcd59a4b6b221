package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/vcc/vccpki/store"
)

var fastKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func TestSealOpenEveryType(t *testing.T) {
	kek, _, err := NewKEK([]byte("a passphrase of some length"), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range allTypes {
		if kt == RSA4096 {
			continue // slow to generate; RSA-2048 and 3072 cover the code
		}
		t.Run(string(kt), func(t *testing.T) {
			k, err := Generate(kt)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := TypeOf(k.Public()); err != nil || got != kt {
				t.Errorf("TypeOf = %s, %v", got, err)
			}
			sealed, err := kek.Seal("ca-1", k)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, der[len(der)-32:]) {
				t.Fatal("sealed blob contains key bytes in the clear")
			}
			back, err := kek.Open("ca-1", sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Error("opened a different key")
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	pass := []byte("the right passphrase")
	kek, params, err := NewKEK(pass, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := Generate(ECDSAP256)
	sealed, _ := kek.Seal("root-1", k)
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name string
		run  func() error
		want error // nil: any error
	}{
		{"wrong passphrase", func() error { _, err := OpenKEK([]byte("the wrong passphrase"), params); return err }, ErrWrongPassphrase},
		{"damaged parameters", func() error { _, err := OpenKEK(pass, []byte("{")); return err }, nil},
		{"tampered ciphertext", func() error { _, err := kek.Open("root-1", flipped); return err }, nil},
		{"key record swapped for another id", func() error { _, err := kek.Open("services-1", sealed); return err }, nil},
		{"truncated blob", func() error { _, err := kek.Open("root-1", sealed[:10]); return err }, nil},
		{"short passphrase", func() error { _, _, err := NewKEK([]byte("short"), fastKDF); return err }, nil},
		{"unknown key type", func() error { _, err := ParseType("dsa-1024"); return err }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if again, err := OpenKEK(pass, params); err != nil {
		t.Fatal(err)
	} else if _, err := again.Open("root-1", sealed); err != nil {
		t.Errorf("reopened KEK cannot open: %v", err)
	}
}

type mapStore map[string]store.KeyRecord

func (m mapStore) Key(_ context.Context, id string) (store.KeyRecord, error) {
	r, ok := m[id]
	if !ok {
		return r, store.ErrNotFound
	}
	return r, nil
}

func TestSoftwareSource(t *testing.T) {
	ctx := context.Background()
	kek, _, _ := NewKEK([]byte("software source passphrase"), fastKDF)
	recs := mapStore{}
	src := NewSoftware(kek, recs)
	k, rec, err := src.Create(ctx, "tsa-1", ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	recs[rec.ID] = rec
	// A fresh source (a restarted process) opens the key from its record.
	got, err := NewSoftware(kek, recs).Signer(ctx, "tsa-1")
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	sig, err := got.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil || len(sig) == 0 {
		t.Fatal(err)
	}
	if !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
		t.Error("different key")
	}
	if _, err := NewSoftware(nil, recs).Signer(ctx, "tsa-1"); err == nil {
		t.Error("a source without KEK opened a key")
	}
	if _, err := src.Signer(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
}
