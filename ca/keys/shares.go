package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/ca/keys/shamir"
)

// SharesAlgorithm is the store.KeyRecord Algorithm of a KEK that is
// unsealed with Shamir shares instead of a passphrase.
const SharesAlgorithm = "shamir-aes256gcm"

// Two keys, as in HashiCorp Vault: the KEK seals the CA keys and never
// changes; the unseal key wraps the KEK and is what the shares rebuild.
// A rekey makes a new unseal key and new shares and re-wraps only the
// KEK, so the CA keys are never re-encrypted and old shares stop working.
type sharesRecord struct {
	Set       string `json:"set"` // printed in every share, to tell splits apart
	Threshold int    `json:"threshold"`
	Shares    int    `json:"shares"`
	Wrapped   []byte `json:"wrapped"` // the KEK under the unseal key, AES-256-GCM, bound to the set
}

// SharesInfo is what may be said about a share split without any share.
type SharesInfo struct {
	Set       string
	Threshold int
	Shares    int
}

// Errors of unsealing, worded for the person holding a share.
var (
	ErrWrongShares   = errors.New("the shares do not open the key store: at least one share is wrong (nothing was unsealed)")
	ErrDuplicate     = errors.New("this share was already given")
	ErrOtherSet      = errors.New("this share belongs to another share split (an old one, replaced by vccpki rekey, or another CA's)")
	ErrNotEnough     = errors.New("not enough shares yet")
	errShareMismatch = errors.New("the share does not match this key store's split (threshold or length differ)")
)

// NewSharedKEK makes a new KEK and unseal key, splits the unseal key into
// n shares of which k open it, and returns the KEK, the shares (to print
// once) and the record parameters to store.
func NewSharedKEK(n, k int) (*KEK, []shamir.Share, []byte, error) {
	kekKey := make([]byte, 32)
	defer clear(kekKey)
	if _, err := rand.Read(kekKey); err != nil {
		return nil, nil, nil, err
	}
	params, shares, err := wrapAndSplit(kekKey, n, k)
	if err != nil {
		return nil, nil, nil, err
	}
	kek, err := kekFromKey(kekKey)
	return kek, shares, params, err
}

func wrapAndSplit(kekKey []byte, n, k int) ([]byte, []shamir.Share, error) {
	unsealKey := make([]byte, 32)
	defer clear(unsealKey)
	setID := make([]byte, 4)
	if _, err := rand.Read(unsealKey); err != nil {
		return nil, nil, err
	}
	if _, err := rand.Read(setID); err != nil {
		return nil, nil, err
	}
	rec := sharesRecord{Set: fmt.Sprintf("%X", setID), Threshold: k, Shares: n}
	raw, err := shamir.Split(unsealKey, n, k)
	if err != nil {
		return nil, nil, err
	}
	aead, err := gcm(unsealKey)
	if err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	rec.Wrapped = aead.Seal(nonce, nonce, kekKey, []byte("vccpki kek "+rec.Set))
	shares := make([]shamir.Share, n)
	for i, r := range raw {
		shares[i] = shamir.FromRaw(rec.Set, k, r)
		clear(r)
	}
	params, err := json.Marshal(rec)
	return params, shares, err
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func kekFromKey(key []byte) (*KEK, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	return &KEK{aead: aead}, nil
}

// ParseShares reads the stored parameters of a shared KEK.
func ParseShares(params []byte) (SharesInfo, error) {
	rec, err := parseSharesRecord(params)
	return SharesInfo{Set: rec.Set, Threshold: rec.Threshold, Shares: rec.Shares}, err
}

func parseSharesRecord(params []byte) (sharesRecord, error) {
	var rec sharesRecord
	if err := json.Unmarshal(params, &rec); err != nil {
		return rec, fmt.Errorf("key store share parameters are damaged: %w", err)
	}
	if _, err := hex.DecodeString(rec.Set); err != nil || len(rec.Set) != 8 || rec.Threshold < 1 || rec.Shares < rec.Threshold || len(rec.Wrapped) < 12+16+32 {
		return rec, errors.New("key store share parameters are damaged")
	}
	return rec, nil
}

// CheckShare tells whether s can belong to this split, before it is
// combined with others: same set, same threshold, not given before.
func CheckShare(info SharesInfo, given []shamir.Share, s shamir.Share) error {
	if s.Set != info.Set {
		return ErrOtherSet
	}
	if s.Threshold != info.Threshold || len(s.Y) != 32 {
		return errShareMismatch
	}
	for _, g := range given {
		if g.X == s.X {
			return ErrDuplicate
		}
	}
	return nil
}

// unwrap rebuilds the unseal key from shares and returns the raw KEK.
func unwrap(rec sharesRecord, shares []shamir.Share) ([]byte, error) {
	info := SharesInfo{rec.Set, rec.Threshold, rec.Shares}
	for i, s := range shares {
		if err := CheckShare(info, shares[:i], s); err != nil {
			return nil, err
		}
	}
	if len(shares) < rec.Threshold {
		return nil, fmt.Errorf("%w: %d of %d", ErrNotEnough, len(shares), rec.Threshold)
	}
	var unsealKey []byte
	if rec.Threshold == 1 {
		unsealKey = append([]byte(nil), shares[0].Y...)
	} else {
		raw := make([][]byte, rec.Threshold)
		for i := range raw {
			raw[i] = shares[i].Raw()
		}
		var err error
		unsealKey, err = shamir.Combine(raw)
		for _, r := range raw {
			clear(r)
		}
		if err != nil {
			return nil, err
		}
	}
	defer clear(unsealKey)
	aead, err := gcm(unsealKey)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	kekKey, err := aead.Open(nil, rec.Wrapped[:n], rec.Wrapped[n:], []byte("vccpki kek "+rec.Set))
	if err != nil {
		return nil, ErrWrongShares
	}
	return kekKey, nil
}

// OpenSharedKEK opens the KEK with at least threshold shares.
func OpenSharedKEK(params []byte, shares []shamir.Share) (*KEK, error) {
	rec, err := parseSharesRecord(params)
	if err != nil {
		return nil, err
	}
	kekKey, err := unwrap(rec, shares)
	if err != nil {
		return nil, err
	}
	defer clear(kekKey)
	return kekFromKey(kekKey)
}

// Rekey opens the KEK with the current shares and wraps it under a new
// unseal key split into n new shares of which k open it. It returns the
// new parameters to store in place of the old ones; the CA keys, sealed
// under the unchanged KEK, are not touched.
func Rekey(params []byte, current []shamir.Share, n, k int) ([]byte, []shamir.Share, error) {
	rec, err := parseSharesRecord(params)
	if err != nil {
		return nil, nil, err
	}
	kekKey, err := unwrap(rec, current)
	if err != nil {
		return nil, nil, err
	}
	defer clear(kekKey)
	return wrapAndSplit(kekKey, n, k)
}
