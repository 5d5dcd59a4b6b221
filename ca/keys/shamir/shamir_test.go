package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestMulKnownProducts(t *testing.T) {
	// FIPS 197 §4.2 works 0x57·0x83 = 0xc1 and 0x57·0x13 = 0xfe.
	for _, tc := range []struct {
		name    string
		a, b, p byte
	}{
		{"FIPS 197 4.2", 0x57, 0x83, 0xc1},
		{"FIPS 197 4.2.1", 0x57, 0x13, 0xfe},
		{"by zero", 0x57, 0x00, 0x00},
		{"by one", 0xab, 0x01, 0xab},
		{"x times x^7 wraps", 0x02, 0x80, 0x1b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mul(tc.a, tc.b); got != tc.p {
				t.Errorf("mul(%#x, %#x) = %#x, want %#x", tc.a, tc.b, got, tc.p)
			}
			if got := mul(tc.b, tc.a); got != tc.p {
				t.Errorf("mul is not commutative for %#x, %#x", tc.a, tc.b)
			}
		})
	}
	for a := 1; a < 256; a++ {
		if got := mul(byte(a), inv(byte(a))); got != 1 {
			t.Fatalf("a·inv(a) = %#x for a = %#x", got, a)
		}
	}
}

func TestSplitCombine(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	for _, tc := range []struct {
		name string
		n, k int
	}{
		{"2 of 2", 2, 2},
		{"2 of 3", 3, 2},
		{"3 of 5", 5, 3},
		{"5 of 5", 5, 5},
		{"1 of 1", 1, 1},
		{"10 of 255", 255, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shares, err := Split(secret, tc.n, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			if len(shares) != tc.n {
				t.Fatalf("%d shares, want %d", len(shares), tc.n)
			}
			if tc.k == 1 {
				if !bytes.Equal(shares[0][:32], secret) {
					t.Error("1 of 1 share is not the secret")
				}
				return
			}
			// Every window of k consecutive shares (rotating) rebuilds it.
			for start := range min(tc.n, 8) {
				var pick [][]byte
				for i := range tc.k {
					pick = append(pick, shares[(start+i)%tc.n])
				}
				got, err := Combine(pick)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, secret) {
					t.Fatalf("shares from %d rebuilt a different secret", start)
				}
				// k-1 shares give something else (a 2^-256 chance aside).
				if tc.k > 2 {
					less, err := Combine(pick[1:])
					if err != nil {
						t.Fatal(err)
					}
					if bytes.Equal(less, secret) {
						t.Fatal("k-1 shares rebuilt the secret")
					}
				}
			}
			// A changed byte in one share changes the result.
			bad := [][]byte{bytes.Clone(shares[0])}
			bad = append(bad, shares[1:tc.k]...)
			bad[0][3] ^= 0x40
			if got, _ := Combine(bad); bytes.Equal(got, secret) {
				t.Error("a damaged share still rebuilt the secret")
			}
		})
	}
}

func TestSplitCombineRefuse(t *testing.T) {
	secret := []byte("0123456789abcdef")
	shares, _ := Split(secret, 3, 2)
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"empty secret", func() error { _, err := Split(nil, 3, 2); return err }, nil},
		{"threshold above shares", func() error { _, err := Split(secret, 2, 3); return err }, nil},
		{"threshold 0", func() error { _, err := Split(secret, 2, 0); return err }, nil},
		{"threshold 1 of many", func() error { _, err := Split(secret, 3, 1); return err }, nil},
		{"256 shares", func() error { _, err := Split(secret, 256, 2); return err }, nil},
		{"one share", func() error { _, err := Combine(shares[:1]); return err }, ErrTooFew},
		{"duplicate", func() error { _, err := Combine([][]byte{shares[0], shares[0]}); return err }, ErrDuplicate},
		{"lengths differ", func() error { _, err := Combine([][]byte{shares[0], shares[1][1:]}); return err }, ErrMismatched},
		{"x is 0", func() error { _, err := Combine([][]byte{{1, 0}, {2, 3}}); return err }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestShareText(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	raw, err := Split(secret, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	s := FromRaw("0A1B2C3D", 2, raw[0])
	text := s.String()
	flip := []byte(text)
	i := strings.LastIndexByte(text, '-') - 3
	if flip[i] == 'A' {
		flip[i] = 'B'
	} else {
		flip[i] = 'A'
	}
	grouped := strings.ToLower(text[:20]) + " " + text[20:40] + "\n" + text[40:]
	for _, tc := range []struct {
		name  string
		in    string
		valid bool
	}{
		{"as printed", text, true},
		{"typed in lower case with spaces", grouped, true},
		{"one character mistyped", string(flip), false},
		{"last character missing", text[:len(text)-1], false},
		{"other prefix", "VKS2" + text[4:], false},
		{"empty", "", false},
		{"too long", strings.Repeat("A", MaxEncodedLen+1), false},
		{"not a share", "hello", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseShare(tc.in)
			if !tc.valid {
				if err == nil {
					t.Fatal("accepted")
				}
				if strings.Contains(err.Error(), b32.EncodeToString(s.Y)[:8]) {
					t.Error("the error echoes the share")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Set != s.Set || got.Threshold != 2 || got.X != s.X || !bytes.Equal(got.Raw(), raw[0]) {
				t.Errorf("parsed %+v", got)
			}
		})
	}
}

// FuzzParseShare: whatever a holder types, the parser neither panics nor
// accepts a share that does not encode back to the same text.
func FuzzParseShare(f *testing.F) {
	secret := make([]byte, 32)
	rand.Read(secret)
	raw, _ := Split(secret, 5, 3)
	for i, r := range raw {
		f.Add(FromRaw("DEADBEEF", 3, r).String())
		if i == 0 {
			f.Add(strings.ToLower(FromRaw("DEADBEEF", 3, r).String()))
		}
	}
	f.Add("VKS1-00000000-1-1--")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseShare(in)
		if err != nil {
			return
		}
		if s.Threshold < 1 || s.X == 0 || len(s.Y) == 0 || len(s.Set) != 8 {
			t.Fatalf("accepted a malformed share: %+v", s)
		}
		again, err := ParseShare(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("re-encoding does not parse back: %v", err)
		}
	})
}
