package postgres

import "github.com/vcc/vccpki/store/internal/rowcodec"

// The column codecs both SQL stores share (store/internal/rowcodec).
var (
	toNanos     = rowcodec.ToNanos
	clampNanos  = rowcodec.ClampNanos
	fromNanos   = rowcodec.FromNanos
	blob        = rowcodec.Blob
	checkSerial = rowcodec.CheckSerial
	jsonList    = rowcodec.JSONList
	auditRow    = rowcodec.AuditRow
	tokenArgs   = rowcodec.TokenArgs
)
