package fleet

import (
	"context"
	"math/big"

	"github.com/vcc/vccpki/ca"
)

// ourStatus is the revocation status of a certificate this CA issued, as
// our OCSP responder answers it (RFC 6960 §2.2 good, revoked, unknown),
// asked of the engine in process. Discovery never follows the OCSP URL a
// presented certificate names: an endpoint serving a foreign chain would
// otherwise make the CA send requests to any URL it likes, every refresh.
func ourStatus(ctx context.Context, c CA, issuer string, serial *big.Int) string {
	st, err := c.StatusOf(ctx, issuer, serial)
	if err != nil {
		return OCSPUnavailable + ": " + err.Error()
	}
	switch st.Status {
	case ca.Good:
		return "good"
	case ca.Revoked:
		return "revoked"
	}
	return "unknown"
}
