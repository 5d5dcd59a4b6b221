package est

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// HashParams are argon2id parameters (RFC 9106).
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultHashParams follow OWASP's argon2id recommendation (19 MiB, two
// passes, one lane): about 20-40 ms per hash on one core. The server
// remembers a verified password for a while (see verifiedCache), so this
// cost is paid once per client, not once per enrolment.
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	hashLen = 32
	// maxPasswordLen bounds the work an attacker can ask of the hash.
	maxPasswordLen = 1024
)

// HashPassword returns an argon2id hash of password in PHC string format:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (unpadded base64).
func HashPassword(password string, hp HashParams) (string, error) {
	if password == "" || len(password) > maxPasswordLen {
		return "", fmt.Errorf("a password must be 1 to %d bytes", maxPasswordLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(password), salt, hp.Time, hp.MemoryKiB, hp.Threads, hashLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, hp.MemoryKiB, hp.Time, hp.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// errBadHash: the stored hash is not one this package can check.
var errBadHash = errors.New("the stored password hash is not argon2id or bcrypt")

// CheckPassword reports whether password matches an argon2id (PHC
// format) or bcrypt hash.
func CheckPassword(hash, password string) (bool, error) {
	if len(password) > maxPasswordLen {
		return false, nil
	}
	if strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$") {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	}
	hp, salt, want, err := parseArgon2id(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, hp.Time, hp.MemoryKiB, hp.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parseArgon2id(hash string) (HashParams, []byte, []byte, error) {
	var hp HashParams
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return hp, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &hp.MemoryKiB, &hp.Time, &hp.Threads); err != nil {
		return hp, nil, nil, errBadHash
	}
	// Bounds keep a corrupted row from asking for gigabytes.
	if hp.MemoryKiB < 8 || hp.MemoryKiB > 1<<20 || hp.Time < 1 || hp.Time > 16 || hp.Threads < 1 {
		return hp, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	sum, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(sum) < 16 {
		return hp, nil, nil, errBadHash
	}
	return hp, salt, sum, nil
}

// GeneratePassword returns a random password of 128 bits of entropy,
// URL-safe base64 so that it survives shells and config files.
func GeneratePassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
