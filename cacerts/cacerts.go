// Package cacerts distributes the hierarchy's CA certificates over HTTP:
// what the caIssuers URLs in certificates point at, and the trust anchor.
package cacerts

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/frontend"
)

// Engine is what serving CA certificates needs of the CA engine.
type Engine interface {
	CACert(name string) (*x509.Certificate, bool)
	// IsIssuingCA reports whether name is an issuing CA now (CAs are
	// added while the server runs: vccpki ca create).
	IsIssuingCA(name string) bool
	// GenerationCert returns a generation of an issuing CA by its key
	// (ca.GenerationIssuer: the CA's name for its first generation,
	// "<name>_<n>" for the n-th), current or retired.
	GenerationCert(key string) (*x509.Certificate, bool)
	// GenerationLink returns a generation's link certificate (its key
	// certified by the previous generation's: ca/rollover_link.go).
	GenerationLink(key string) (*x509.Certificate, bool)
}

// FrontEnd serves /ca/<name>.crt as DER (application/pkix-cert, RFC 2585
// §4.1, what caIssuers URLs point at), /ca/<name>.pem as PEM, and
// /root.pem, on both listeners. After a rollover (vccpki ca rollover)
// each key generation keeps its URL, the one its certificates' caIssuers
// name: /ca/<name>.crt the first, /ca/<name>_<n>.crt the n-th; and the
// n-th's link certificate (signed by the previous key) at
// /ca/<name>_<n>.link.crt (and .link.pem), for clients that hold only the
// previous generation and fetch no caIssuers URL.
type FrontEnd struct {
	Engine   Engine
	HTTPAddr string
}

var _ frontend.FrontEnd = (*FrontEnd)(nil)

// Register implements frontend.FrontEnd.
func (f *FrontEnd) Register(m frontend.Muxes) {
	m.HTTP.Handle("GET /ca/{file}", f)
	m.HTTP.Handle("GET /root.pem", f)
}

// Banner implements frontend.FrontEnd.
func (f *FrontEnd) Banner() []string {
	return []string{"CA certificates  http://" + f.HTTPAddr + "/ca/<issuer>.crt"}
}

// Run implements frontend.FrontEnd: there is no background work.
func (f *FrontEnd) Run(ctx context.Context) error { return frontend.Idle(ctx) }

func (f *FrontEnd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	if r.URL.Path == "/root.pem" {
		file = ca.RootCA + ".pem"
	}
	name, ext, _ := strings.Cut(file, ".")
	cert, ok := f.Engine.CACert(name)
	switch {
	case strings.HasPrefix(ext, "link."):
		// CA names have no dot: a generation key, then .link.crt.
		ext = strings.TrimPrefix(ext, "link.")
		cert, ok = f.Engine.GenerationLink(name)
	case name != ca.RootCA:
		cert, ok = f.Engine.GenerationCert(name)
	}
	if !ok || (ext != "crt" && ext != "pem") {
		http.Error(w, "no such CA certificate; try /ca/root.crt, /ca/services.crt or /ca/code-signing.crt", http.StatusNotFound)
		return
	}
	body, ctype := cert.Raw, "application/pkix-cert"
	if ext == "pem" {
		body, ctype = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), "application/x-pem-file"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(body)
}
