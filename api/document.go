package api

import (
	_ "embed"
	"net/http"
)

// Document is the OpenAPI 3.1 description of the API, served at
// /api/v1/openapi.json without authentication.
//
//go:embed openapi.json
var Document []byte

func serveDocument(c *call) error {
	c.w.Header().Set("Content-Type", "application/json")
	c.status = http.StatusOK
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(Document)
	return nil
}
