package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/vcc/vccpki/ca/keys/shamir"
)

func TestSharedKEK(t *testing.T) {
	kek, shares, params, err := NewSharedKEK(5, 3)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := Generate(ECDSAP256)
	sealed, err := kek.Seal("root-1", k)
	if err != nil {
		t.Fatal(err)
	}
	_, otherShares, _, _ := NewSharedKEK(5, 3)
	// A share of the right set, well formed, with a wrong value.
	forged := shamir.Share{Set: shares[0].Set, Threshold: 3, X: shares[0].X, Y: append([]byte(nil), shares[0].Y...)}
	forged.Y[0] ^= 1
	newParams, newShares, err := Rekey(params, shares[2:], 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		params []byte
		shares []shamir.Share
		want   error // nil: opens
	}{
		{"three of five", params, shares[:3], nil},
		{"the other three", params, shares[2:], nil},
		{"all five", params, shares, nil},
		{"two of five", params, shares[:2], ErrNotEnough},
		{"one given twice", params, []shamir.Share{shares[0], shares[1], shares[0]}, ErrDuplicate},
		{"a share of another split", params, []shamir.Share{shares[0], shares[1], otherShares[2]}, ErrOtherSet},
		{"a wrong share", params, []shamir.Share{forged, shares[1], shares[2]}, ErrWrongShares},
		{"new shares after rekey", newParams, newShares[1:3], nil},
		{"old shares after rekey", newParams, shares[:3], ErrOtherSet},
		{"one new share", newParams, newShares[:1], ErrNotEnough},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OpenSharedKEK(tc.params, tc.shares)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The CA key sealed before any rekey still opens.
			back, err := got.Open("root-1", sealed)
			if err != nil || !back.Public().(*ecdsa.PublicKey).Equal(k.Public()) {
				t.Fatalf("the KEK does not open the CA key: %v", err)
			}
		})
	}
	info, err := ParseShares(newParams)
	if err != nil || info.Threshold != 2 || info.Shares != 4 || info.Set != newShares[0].Set {
		t.Errorf("ParseShares = %+v, %v", info, err)
	}
	if _, _, err := Rekey(params, shares[:2], 3, 2); !errors.Is(err, ErrNotEnough) {
		t.Errorf("rekey with too few shares: %v", err)
	}
}

func TestVaultSealUnseal(t *testing.T) {
	ctx := context.Background()
	kek, _, _ := NewKEK([]byte("vault test passphrase"), fastKDF)
	recs := mapStore{}
	v := NewVault(recs)
	if _, _, err := v.Create(ctx, "ocsp-1", ECDSAP256); !errors.Is(err, ErrSealed) {
		t.Fatalf("create while sealed: %v", err)
	}
	v.Unseal(kek)
	_, rec, err := v.Create(ctx, "ocsp-1", ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	recs[rec.ID] = rec
	handle, err := v.Signer(ctx, "ocsp-1")
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := handle.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	opened := v.soft.cache["ocsp-1"].(*ecdsa.PrivateKey)
	v.Seal()
	//lint:ignore SA1019 the test checks that Seal zeroed the scalar
	zeroed := opened.D.Sign() == 0
	if !v.Sealed() || !zeroed {
		t.Errorf("after Seal: sealed=%v, private scalar zero=%v", v.Sealed(), zeroed)
	}
	if _, err := handle.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, ErrSealed) {
		t.Errorf("a handle signed while sealed: %v", err)
	}
	// Unsealed again, the old handle signs with the key reopened from its record.
	v.Unseal(kek)
	sig, err := handle.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(handle.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Errorf("after unseal: %v", err)
	}
}
