package ca

import "time"

// StoredCRL rebuilds a CRL that another instance built, signed and
// stored, so that this one serves the same bytes instead of building its
// own (ocsp.Config.SharedCRLs). der must be what Bytes returned there.
func StoredCRL(issuer string, shard int, number int64, thisUpdate, nextUpdate time.Time, entries int, der []byte) *CRL {
	return &CRL{Issuer: issuer, Shard: shard, Number: number, ThisUpdate: thisUpdate, NextUpdate: nextUpdate,
		Entries: entries, parts: [][]byte{der}, size: len(der)}
}
