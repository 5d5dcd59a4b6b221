// Package backend opens the CA's key source from configuration: the
// software key store (a KEK from a passphrase or from key holders'
// shares) or a PKCS#11 token. It sits beside ca/keys because the token
// package imports ca/keys.
package backend

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vcc/vccpki/internal/conf"
	"github.com/vcc/vccpki/internal/safefile"
)

// Where the CA keys live.
const (
	Software = "software"
	PKCS11   = "pkcs11"
)

// Config is the configuration file's keys section.
type Config struct {
	PassphraseFile string `yaml:"passphrase_file"`
	PassphraseEnv  string `yaml:"passphrase_env"`
	// DevGenerate lets a development setup create a passphrase file in
	// the data directory. The server warns at every start.
	DevGenerate bool `yaml:"dev_generate"`
	// Backend is where the CA keys live: "software" (the default, sealed
	// in the store) or "pkcs11" (a token). Empty: whatever the data
	// directory was created with (software for a new one).
	Backend string       `yaml:"backend"`
	PKCS11  PKCS11Config `yaml:"pkcs11"`
}

// PKCS11Config is the keys.pkcs11 section: which token holds the CA keys.
type PKCS11Config struct {
	Module     string `yaml:"module"`
	TokenLabel string `yaml:"token_label"`
	Slot       *int   `yaml:"slot"`
	// The user PIN comes from a file or the environment, never from a
	// flag or the configuration itself, and is never logged.
	PINFile     string `yaml:"pin_file"`
	PINEnv      string `yaml:"pin_env"`
	MaxSessions int    `yaml:"max_sessions"` // session pool size (default 16)
	MaxSigners  int    `yaml:"max_signers"`  // signatures in flight at once (default max_sessions)
	SignTimeout string `yaml:"sign_timeout"` // a signature waits at most this long (default 5s; "none": no limit)
}

const (
	defaultPINEnv        = "VCCPKI_PKCS11_PIN"
	defaultPassphraseEnv = "VCCPKI_KEK_PASSPHRASE"
	defaultSignTimeout   = 5 * time.Second
)

// Resolve makes the file paths relative to the configuration file (rel)
// and checks the section.
func (k *Config) Resolve(rel func(string) string) error {
	k.PassphraseFile = rel(k.PassphraseFile)
	switch k.Backend {
	case "", Software, PKCS11:
	default:
		return fmt.Errorf("field keys.backend: %q is not software or pkcs11", k.Backend)
	}
	p := &k.PKCS11
	p.PINFile = rel(p.PINFile)
	if p.TokenLabel != "" && p.Slot != nil {
		return errors.New("field keys.pkcs11: give token_label or slot, not both")
	}
	if _, err := p.signTimeout(); err != nil {
		return fmt.Errorf("field keys.pkcs11.sign_timeout: %w", err)
	}
	if p.MaxSessions < 0 || p.MaxSigners < 0 {
		return errors.New("field keys.pkcs11: max_sessions and max_signers cannot be negative")
	}
	return nil
}

// signTimeout reads sign_timeout: Go syntax or whole days, "none" for no
// limit, empty for the default.
func (p PKCS11Config) signTimeout() (time.Duration, error) {
	switch p.SignTimeout {
	case "":
		return defaultSignTimeout, nil
	case "none":
		return 0, nil
	}
	return conf.ParseDuration(p.SignTimeout)
}

// passphrase finds the key-encryption passphrase: a file, else an
// environment variable, else (development only) a generated file in data.
func (k Config) passphrase(data string, log *slog.Logger) ([]byte, error) {
	if k.PassphraseFile != "" {
		b, err := os.ReadFile(k.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("keys.passphrase_file: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	env := k.PassphraseEnv
	if env == "" {
		env = defaultPassphraseEnv
	}
	if v := os.Getenv(env); v != "" {
		return []byte(v), nil
	}
	if !k.DevGenerate {
		return nil, fmt.Errorf("no key-encryption passphrase: set $%s, or keys.passphrase_file in the configuration", env)
	}
	path := filepath.Join(data, "kek-passphrase.dev")
	log.Warn("DEVELOPMENT KEY STORE: the key-encryption passphrase is a file beside the keys; do not use this configuration in production", "file", path)
	b, err := os.ReadFile(path)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	pass := base64.RawURLEncoding.EncodeToString(raw)
	if err := safefile.Write(path, []byte(pass+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []byte(pass), nil
}

// pin reads the token's user PIN from keys.pkcs11.pin_file, else from
// the environment variable keys.pkcs11.pin_env (VCCPKI_PKCS11_PIN).
func (p PKCS11Config) pin() (string, error) {
	if p.PINFile != "" {
		b, err := os.ReadFile(p.PINFile)
		if err != nil {
			return "", fmt.Errorf("keys.pkcs11.pin_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	env := p.PINEnv
	if env == "" {
		env = defaultPINEnv
	}
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("no PKCS#11 PIN: set $%s, or keys.pkcs11.pin_file in the configuration", env)
}
