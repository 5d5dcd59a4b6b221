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
