package ocsp

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// reqSpec describes an OCSPRequest to encode, including the ways a
// request can be wrong.
type reqSpec struct {
	version    int64 // -1: absent
	requestor  bool
	hashOID    []byte // DER OID content; nil: SHA-1
	params     []byte // raw parameters element; nil: NULL; empty: absent
	hashLen    int
	serial     []byte // INTEGER content
	certIDs    int
	exts       [][]byte // full Extension elements
	signature  bool
	singleExts bool
}

func (r reqSpec) der() []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			if r.version >= 0 {
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(r.version) })
			}
			if r.requestor {
				b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte("client.test")) })
				})
			}
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for range max(r.certIDs, 1) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								oid := r.hashOID
								if oid == nil {
									oid = []byte{0x2b, 0x0e, 0x03, 0x02, 0x1a}
								}
								b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
								switch {
								case r.params == nil:
									b.AddASN1NULL()
								default:
									b.AddBytes(r.params)
								}
							})
							n := r.hashLen
							if n == 0 {
								n = 20
							}
							b.AddASN1OctetString(bytes.Repeat([]byte{1}, n))
							b.AddASN1OctetString(bytes.Repeat([]byte{2}, n))
							serial := r.serial
							if serial == nil {
								serial = []byte{0x01, 0x02}
							}
							b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(serial) })
						})
						if r.singleExts {
							b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {})
							})
						}
					})
				}
			})
			if r.exts != nil {
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, e := range r.exts {
							b.AddBytes(e)
						}
					})
				})
			}
		})
		if r.signature {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1NULL() })
			})
		}
	})
	return b.BytesOrPanic()
}

func ext(oid []byte, critical bool, value []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1OctetString(value)
	})
	return b.BytesOrPanic()
}

var nonceOID = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02}

func nonceValue(n int) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1OctetString(bytes.Repeat([]byte{9}, n))
	return b.BytesOrPanic()
}

func TestParseRequest(t *testing.T) {
	base := reqSpec{version: -1}
	with := func(f func(*reqSpec)) []byte { r := base; f(&r); return r.der() }
	for _, tc := range []struct {
		name  string
		der   []byte
		err   string // "" for success
		check func(t *testing.T, r *request)
	}{
		{"minimal", base.der(), "", func(t *testing.T, r *request) {
			if len(r.certs) != 1 || r.certs[0].hash != crypto.SHA1 || r.nonce != nil {
				t.Errorf("%+v", r)
			}
			if k, ok := r.certs[0].key(); !ok || new(big.Int).SetBytes(k[:]).Int64() != 0x0102 {
				t.Errorf("key %x %v", k, ok)
			}
		}},
		{"explicit v1", with(func(r *reqSpec) { r.version = 0 }), "", nil},
		{"v2", with(func(r *reqSpec) { r.version = 1 }), "version must be v1", nil},
		{"requestor name and signature are ignored", with(func(r *reqSpec) { r.requestor, r.signature = true, true }), "", nil},
		{"single request extensions", with(func(r *reqSpec) { r.singleExts = true }), "", nil},
		{"SHA-256", with(func(r *reqSpec) {
			r.hashOID, r.hashLen = []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, 32
		}), "", func(t *testing.T, r *request) {
			if r.certs[0].hash != crypto.SHA256 {
				t.Errorf("hash %v", r.certs[0].hash)
			}
		}},
		{"SHA-256 without parameters", with(func(r *reqSpec) {
			r.hashOID, r.hashLen, r.params = []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, 32, []byte{}
		}), "", nil},
		{"SHA-1 with odd parameters", with(func(r *reqSpec) { r.params = []byte{0x02, 0x01, 0x05} }), "hashAlgorithm parameters", nil},
		{"SHA-1 hash of 32 bytes", with(func(r *reqSpec) { r.hashLen = 32 }), "not SHA-1 hashes", nil},
		{"unknown hash algorithm parses", with(func(r *reqSpec) { r.hashOID, r.hashLen = []byte{0x2a, 0x03}, 16 }), "", func(t *testing.T, r *request) {
			if r.certs[0].hash != 0 {
				t.Errorf("hash %v", r.certs[0].hash)
			}
		}},
		{"serial with a leading zero", with(func(r *reqSpec) { r.serial = []byte{0x00, 0x80} }), "", func(t *testing.T, r *request) {
			if k, _ := r.certs[0].key(); k[19] != 0x80 || k[18] != 0 {
				t.Errorf("key %x", k)
			}
		}},
		{"21-octet serial parses, has no key", with(func(r *reqSpec) { r.serial = bytes.Repeat([]byte{0x11}, 21) }), "", func(t *testing.T, r *request) {
			if _, ok := r.certs[0].key(); ok {
				t.Error("a 21-octet serial has a key")
			}
		}},
		{"non-minimal serial", with(func(r *reqSpec) { r.serial = []byte{0x00, 0x01} }), "not a DER INTEGER", nil},
		{"negative serial", with(func(r *reqSpec) { r.serial = []byte{0xff} }), "must be positive", nil},
		{"zero serial", with(func(r *reqSpec) { r.serial = []byte{0x00} }), "must be positive", nil},
		{"empty serial", with(func(r *reqSpec) { r.serial = []byte{} }), "not a DER INTEGER", nil},
		{"64 CertIDs", with(func(r *reqSpec) { r.certIDs = 64 }), "", nil},
		{"65 CertIDs", with(func(r *reqSpec) { r.certIDs = 65 }), "more than 64", nil},
		{"nonce, 32 octets", with(func(r *reqSpec) { r.exts = [][]byte{ext(nonceOID, false, nonceValue(32))} }), "", func(t *testing.T, r *request) {
			if !bytes.Equal(r.nonce, nonceValue(32)) {
				t.Errorf("nonce %x", r.nonce)
			}
		}},
		{"nonce, 33 octets", with(func(r *reqSpec) { r.exts = [][]byte{ext(nonceOID, false, nonceValue(33))} }), "nonce of 33 octets", nil},
		{"nonce, 200 octets", with(func(r *reqSpec) { r.exts = [][]byte{ext(nonceOID, false, nonceValue(200))} }), "nonce of 200 octets", nil},
		{"nonce, empty", with(func(r *reqSpec) { r.exts = [][]byte{ext(nonceOID, false, nonceValue(0))} }), "nonce of 0 octets", nil},
		{"raw nonce", with(func(r *reqSpec) { r.exts = [][]byte{ext(nonceOID, false, []byte("sixteen octets!!"))} }), "", nil},
		{"raw nonce, too long", with(func(r *reqSpec) { r.exts = [][]byte{ext(nonceOID, false, bytes.Repeat([]byte("x"), 40))} }), "nonce of 40 octets", nil},
		{"critical nonce is fine", with(func(r *reqSpec) { r.exts = [][]byte{ext(nonceOID, true, nonceValue(16))} }), "", nil},
		{"two nonces", with(func(r *reqSpec) {
			r.exts = [][]byte{ext(nonceOID, false, nonceValue(16)), ext(nonceOID, false, nonceValue(16))}
		}), "two nonce", nil},
		{"unknown extension", with(func(r *reqSpec) { r.exts = [][]byte{ext([]byte{0x2a, 0x03}, false, []byte{5, 0})} }), "", nil},
		{"unknown critical extension", with(func(r *reqSpec) { r.exts = [][]byte{ext([]byte{0x2a, 0x03}, true, []byte{5, 0})} }), "unsupported critical", nil},
		{"empty", nil, "not one DER SEQUENCE", nil},
		{"trailing byte", append(base.der(), 0), "not one DER SEQUENCE", nil},
		{"empty request list", []byte{0x30, 0x04, 0x30, 0x02, 0x30, 0x00}, "empty requestList", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRequest(tc.der)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, r)
				}
				return
			}
			if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want malformed: %q", err, tc.err)
			}
		})
	}
}

func TestDecodeGET(t *testing.T) {
	raw := []byte{0x30, 0xfb, 0xff, 0x3e, 0x01}
	for _, in := range []string{"MPv/PgE=", "MPv/PgE", "MPv_PgE", "MPv_PgE="} {
		got, err := decodeGET(in, nil)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("decodeGET(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"MPv/PgE==x", "M", "!!!!", "MPv/P gE="} {
		if got, err := decodeGET(in, nil); err == nil {
			t.Errorf("decodeGET(%q) = %x", in, got)
		}
	}
}

func encodeStd(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
