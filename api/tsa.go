package api

import (
	"encoding/hex"
	"net/http"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/tsa"
)

// Timestamp is a recorded RFC 3161 time-stamp token.
type Timestamp struct {
	Serial  int64     `json:"serial"`
	Time    time.Time `json:"time"`
	Hash    string    `json:"hash"`
	Imprint string    `json:"imprint"` // hex
	Policy  string    `json:"policy"`
}

func (s *Server) tsaRoutes(add addFunc) {
	add("GET", "/tsa/tokens", auth.TSARead, s.lookupTimestamps)
}

// lookupTimestamps: GET /tsa/tokens?serial= or ?imprint=
func (s *Server) lookupTimestamps(c *call) error {
	q := c.r.URL.Query()
	serial, imprint := q.Get("serial"), q.Get("imprint")
	var query tsa.Query
	var err error
	switch {
	case (serial == "") == (imprint == ""):
		return problem(http.StatusBadRequest, ProbMalformed, "give exactly one of serial (decimal, or hex with 0x) and imprint (hex)")
	case serial != "":
		if query, err = tsa.SerialQuery(serial); err != nil {
			return problem(http.StatusBadRequest, ProbBadSerial, err.Error())
		}
	default:
		if query, err = tsa.ImprintQuery(imprint); err != nil {
			return problem(http.StatusBadRequest, ProbMalformed, err.Error())
		}
	}
	recs, err := tsa.Lookup(c.r.Context(), s.cfg.Store, query)
	if err != nil {
		return err
	}
	var items []Timestamp
	for _, r := range recs {
		items = append(items, Timestamp{Serial: r.Serial, Time: r.Time.UTC(), Hash: r.Hash, Imprint: hex.EncodeToString(r.Imprint), Policy: r.Policy})
	}
	return pageSlice(c, "tsa-tokens", items)
}
