package ca

import (
	"math/big"
	"time"
)

// Small DER writers for the structures the engine streams (CRLs) or
// signs on the OCSP path, where encoding/asn1's reflection would cost
// more than the signature. X.690 §8.1: tag, definite length, contents.

const (
	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagBitString   = 0x03
	tagOctetString = 0x04
	tagNull        = 0x05
	tagOID         = 0x06
	tagEnumerated  = 0x0a
	tagUTCTime     = 0x17
	tagGenTime     = 0x18
	tagSequence    = 0x30
)

// appendHeader writes a tag and a definite length.
func appendHeader(dst []byte, tag byte, n int) []byte {
	dst = append(dst, tag)
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n < 1<<8:
		return append(dst, 0x81, byte(n))
	case n < 1<<16:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// headerLen is the size of the header appendHeader writes for n bytes.
func headerLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n < 1<<8:
		return 3
	case n < 1<<16:
		return 4
	case n < 1<<24:
		return 5
	default:
		return 6
	}
}

// appendTLV writes one complete element.
func appendTLV(dst []byte, tag byte, content ...[]byte) []byte {
	n := 0
	for _, c := range content {
		n += len(c)
	}
	dst = appendHeader(dst, tag, n)
	for _, c := range content {
		dst = append(dst, c...)
	}
	return dst
}

// appendSerial writes a positive serial number as a DER INTEGER: the
// big-endian bytes, with a zero byte in front when the top bit is set.
func appendSerial(dst []byte, magnitude []byte) []byte {
	for len(magnitude) > 1 && magnitude[0] == 0 {
		magnitude = magnitude[1:]
	}
	if len(magnitude) == 0 {
		return append(dst, tagInteger, 1, 0)
	}
	if magnitude[0]&0x80 != 0 {
		dst = appendHeader(dst, tagInteger, len(magnitude)+1)
		dst = append(dst, 0)
		return append(dst, magnitude...)
	}
	return appendTLV(dst, tagInteger, magnitude)
}

func appendBigSerial(dst []byte, n *big.Int) []byte { return appendSerial(dst, n.Bytes()) }

// appendTime writes RFC 5280 §4.1.2.5 Time: UTCTime through 2049,
// GeneralizedTime from 2050, always UTC and whole seconds.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y >= 1950 && y < 2050 {
		dst = append(dst, tagUTCTime, 13)
		return t.AppendFormat(dst, "060102150405Z")
	}
	return appendGeneralizedTime(dst, t)
}

// appendGeneralizedTime writes GeneralizedTime in the DER form RFC 5280
// §4.1.2.5.2 and RFC 6960 require: UTC, whole seconds, "Z".
func appendGeneralizedTime(dst []byte, t time.Time) []byte {
	dst = append(dst, tagGenTime, 15)
	return t.UTC().AppendFormat(dst, "20060102150405Z")
}

// appendBitString writes a BIT STRING of whole bytes.
func appendBitString(dst []byte, b []byte) []byte {
	dst = appendHeader(dst, tagBitString, len(b)+1)
	dst = append(dst, 0)
	return append(dst, b...)
}

// DER encodings of object identifiers used below, with their tag.
var (
	derOIDSHA1      = []byte{tagOID, 5, 0x2b, 0x0e, 0x03, 0x02, 0x1a}                         // 1.3.14.3.2.26
	derOIDSHA256    = []byte{tagOID, 9, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01} // 2.16.840.1.101.3.4.2.1
	derNull         = []byte{tagNull, 0}
	derOIDCRLNumber = []byte{tagOID, 3, 0x55, 0x1d, 0x14} // 2.5.29.20
	derOIDAKI       = []byte{tagOID, 3, 0x55, 0x1d, 0x23} // 2.5.29.35
	derOIDIDP       = []byte{tagOID, 3, 0x55, 0x1d, 0x1c} // 2.5.29.28
	derTrue         = []byte{tagBoolean, 1, 0xff}
)
