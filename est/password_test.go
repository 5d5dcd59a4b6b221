package est

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswordHashes(t *testing.T) {
	argon, err := HashPassword("s3cret-password", DefaultHashParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(argon, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not PHC argon2id with the default parameters", argon)
	}
	again, _ := HashPassword("s3cret-password", DefaultHashParams)
	if again == argon {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("s3cret-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hash, password string
		ok, err              bool
	}{
		{"argon2id right", argon, "s3cret-password", true, false},
		{"argon2id wrong", argon, "s3cret-passwore", false, false},
		{"bcrypt right", string(bc), "s3cret-password", true, false},
		{"bcrypt wrong", string(bc), "nope", false, false},
		{"too long", argon, strings.Repeat("x", maxPasswordLen+1), false, false},
		{"plain text stored", "s3cret-password", "s3cret-password", false, true},
		{"argon2i", strings.Replace(argon, "argon2id", "argon2i", 1), "s3cret-password", false, true},
		{"huge memory", strings.Replace(argon, "m=19456", "m=99999999", 1), "s3cret-password", false, true},
		{"bad base64", argon[:len(argon)-3] + "!!!", "s3cret-password", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := CheckPassword(tc.hash, tc.password)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("CheckPassword = %v, %v; want %v, error %v", ok, err, tc.ok, tc.err)
			}
		})
	}
	if _, err := HashPassword("", DefaultHashParams); err == nil {
		t.Error("an empty password was hashed")
	}
	p1, _ := GeneratePassword()
	p2, _ := GeneratePassword()
	if len(p1) != 22 || p1 == p2 {
		t.Errorf("generated passwords %q, %q", p1, p2)
	}
}

// TestVerifiedCache: a verified password is remembered until its TTL, and
// only for the same user, hash and password.
func TestVerifiedCache(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	c, err := newVerifiedCache(time.Minute, 2, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	c.add("u", "h1", "pw")
	for _, tc := range []struct {
		user, hash, pw string
		want           bool
	}{
		{"u", "h1", "pw", true},
		{"u", "h1", "pw2", false},
		{"u", "h2", "pw", false}, // new credentials
		{"v", "h1", "pw", false},
	} {
		if got := c.has(tc.user, tc.hash, tc.pw); got != tc.want {
			t.Errorf("has(%s, %s, %s) = %v", tc.user, tc.hash, tc.pw, got)
		}
	}
	clock.advance(time.Minute + time.Second)
	if c.has("u", "h1", "pw") {
		t.Error("entry outlived its TTL")
	}
	for i := range 5 {
		c.add("u", "h1", strconv.Itoa(i))
	}
	if len(c.m) > 2 {
		t.Errorf("%d entries; the bound is 2", len(c.m))
	}
}
