package tsa

import (
	"strings"

	"github.com/digitorus/timestamp"

	"github.com/vcc/vccpki/ca/caerr"
)

// kindFailures is this front end's one table from the engine's error
// kinds to PKIFailureInfo (RFC 3161 §2.4.2); every refusal is a
// PKIStatus rejection. The request checks of this package name their
// failInfo themselves (rejection), since they are protocol errors the
// engine never sees. Kinds not listed are systemFailure.
var kindFailures = map[caerr.Kind]timestamp.FailureInfo{
	caerr.Malformed:    timestamp.BadDataFormat,
	caerr.Unauthorized: timestamp.BadRequest,
	caerr.Unavailable:  timestamp.SystemFailure,
	caerr.RateLimited:  timestamp.SystemFailure,
	caerr.Internal:     timestamp.SystemFailure,
}

func failureFor(err error) timestamp.FailureInfo {
	if f, ok := kindFailures[caerr.KindOf(err)]; ok {
		return f
	}
	return timestamp.SystemFailure
}

// errorReply encodes a TimeStampResp without token:
//
//	PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL, failInfo PKIFailureInfo OPTIONAL }
//
// statusString carries the message for the person reading the client's
// output (a UTF8String inside PKIFreeText); failInfo is a DER named-bit
// BIT STRING: only the set bit and the bits before it.
func errorReply(info timestamp.FailureInfo, text string) []byte {
	if len(text) > 512 {
		text = strings.ToValidUTF8(text[:512], "")
	}
	bit := int(info)
	bits := make([]byte, bit/8+1)
	bits[bit/8] = 0x80 >> (bit % 8)
	failInfo := appendTLV(nil, 0x03, append([]byte{byte(7 - bit%8)}, bits...))
	freeText := appendTLV(nil, 0x30, appendTLV(nil, 0x0c, []byte(text)))
	status := []byte{0x02, 0x01, byte(timestamp.Rejection)}
	statusInfo := appendTLV(nil, 0x30, concat(status, freeText, failInfo))
	return appendTLV(nil, 0x30, statusInfo)
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func appendTLV(b []byte, tag byte, content []byte) []byte {
	n := len(content)
	switch {
	case n < 0x80:
		b = append(b, tag, byte(n))
	case n <= 0xff:
		b = append(b, tag, 0x81, byte(n))
	default:
		b = append(b, tag, 0x82, byte(n>>8), byte(n))
	}
	return append(b, content...)
}
