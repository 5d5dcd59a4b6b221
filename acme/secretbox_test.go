package acme

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store/sqlite"
)

func TestSecretBox(t *testing.T) {
	ctx := t.Context()
	open := func(t *testing.T) *sqlite.Store {
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vccpki.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	sealer := func(t *testing.T, pass string) keys.SecretSealer {
		kek, _, err := keys.NewKEK([]byte(pass), keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		return keys.NewSoftware(kek, nil)
	}
	st := open(t)
	if _, err := OpenSecretBox(ctx, st, nil); !errors.Is(err, errNoSecretBox) {
		t.Fatalf("seal-only box on an empty store: %v, want errNoSecretBox", err)
	}
	keyStore := sealer(t, "server passphrase")
	server, err := OpenSecretBox(ctx, st, keyStore)
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenSecretBox(ctx, st, keyStore)
	if err != nil || !bytes.Equal(again.pub.Bytes(), server.pub.Bytes()) {
		t.Fatalf("a second open made another box: %v", err)
	}
	admin, err := OpenSecretBox(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	sealed, err := admin.Seal("kid-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed form contains the secret")
	}
	otherStore, err := OpenSecretBox(ctx, open(t), sealer(t, "server passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		box       *SecretBox
		label     string
		stored    []byte
		want      []byte
		wantPlain bool
		wantErr   bool
	}{
		{"sealed by the admin, opened by the server", server, "kid-1", sealed, secret, false, false},
		{"another label", server, "kid-2", sealed, nil, false, true},
		{"a seal-only box cannot open", admin, "kid-1", sealed, nil, false, true},
		{"the box of another store", otherStore, "kid-1", sealed, nil, false, true},
		{"damaged", server, "kid-1", append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1), nil, false, true},
		{"stored before sealing", server, "kid-1", secret, secret, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, plain, err := tc.box.Open(tc.label, tc.stored)
			if (err != nil) != tc.wantErr || plain != tc.wantPlain || !bytes.Equal(got, tc.want) {
				t.Errorf("Open = %q, plain %v, err %v", got, plain, err)
			}
		})
	}
	// Another KEK (a new salt, even for the same passphrase) cannot.
	if _, err := OpenSecretBox(ctx, st, sealer(t, "server passphrase")); err == nil {
		t.Error("a key store with another KEK opened the box")
	}
}

// TestSecretBoxClose (13.12): Close zeroes the private key's bytes and
// drops them, so the box refuses to open while still sealing; Reopen
// through the key store makes it open again.
func TestSecretBoxClose(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, _, err := keys.NewKEK([]byte("server passphrase"), keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	keyStore := keys.NewSoftware(kek, nil)
	box, err := OpenSecretBox(ctx, st, keyStore)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	sealed, err := box.Seal("kid-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	held := box.priv // the bytes the box held before Close
	if len(held) == 0 || bytes.Equal(held, make([]byte, len(held))) {
		t.Fatal("an opened box holds no private key")
	}

	box.Close()
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Error("Close left the private key's bytes in memory")
	}
	if box.priv != nil {
		t.Error("Close kept a reference to the private key")
	}
	if got, _, err := box.Open("kid-1", sealed); !errors.Is(err, ErrSecretBoxClosed) || got != nil {
		t.Errorf("Open after Close = %q, %v; want ErrSecretBoxClosed", got, err)
	}
	if _, err := box.Seal("kid-2", secret); err != nil {
		t.Errorf("a closed box no longer seals: %v", err)
	}

	if err := box.Reopen(ctx, st, keyStore); err != nil {
		t.Fatal(err)
	}
	if got, _, err := box.Open("kid-1", sealed); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Open after Reopen = %q, %v", got, err)
	}
}
