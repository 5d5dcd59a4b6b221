package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/api/apitest"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
	"github.com/vcc/vccpki/store/sqlite/sqlitetest"
)

const (
	benchCerts = 100_000
	benchAudit = 100_000
)

var benchEnv struct {
	once sync.Once
	dir  string
	st   *sqlite.Store
	srv  *httptest.Server
	err  error
}

// benchCleanup closes and removes what benchServer made (TestMain).
func benchCleanup() {
	if benchEnv.srv != nil {
		benchEnv.srv.Close()
	}
	if benchEnv.st != nil {
		_ = benchEnv.st.Close()
	}
	if benchEnv.dir != "" {
		_ = os.RemoveAll(benchEnv.dir)
	}
}

// benchServer is an API on its own SQLite file holding benchCerts
// certificate records, made once per run.
func benchServer(b *testing.B) *httptest.Server {
	benchEnv.once.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "vccpki-api-bench")
		if err != nil {
			benchEnv.err = err
			return
		}
		benchEnv.dir = dir
		path := filepath.Join(dir, "vccpki.db")
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			benchEnv.err = err
			return
		}
		benchEnv.st = st
		kek, params, err := keys.NewKEK([]byte("api bench passphrase"), keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
		if err != nil {
			benchEnv.err = err
			return
		}
		ks := keys.NewSoftware(kek, st)
		cfg := ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: ca.DefaultHierarchy()}
		if _, err := ca.Bootstrap(ctx, st, ks, cfg, "bench", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil {
			benchEnv.err = err
			return
		}
		e, err := ca.Open(ctx, st, ks, testEngine.Profiles(), cfg, ca.Options{})
		if err != nil {
			benchEnv.err = err
			return
		}
		now := time.Now()
		err = sqlitetest.InsertCertificates(ctx, path, benchCerts, func(i int) store.Certificate {
			name := fmt.Sprintf("h%06d.argus.vcc.internal", i)
			return store.Certificate{Serial: fmt.Sprintf("%016x", 0x1000000000000000+i), Issuer: "services", Profile: "argus",
				Requester: "bench", Subject: name, Names: []string{name}, NotBefore: now.Add(-time.Hour),
				NotAfter: now.Add(time.Duration(i%1000) * time.Hour), DER: []byte{0x30}}
		})
		if err != nil {
			benchEnv.err = err
			return
		}
		// benchAudit api.call entries, 100 of them by each of 1,000 callers.
		err = sqlitetest.InsertAudit(ctx, path, benchAudit, func(i int) store.AuditEvent {
			return store.AuditEvent{Time: now.Add(time.Duration(i-benchAudit) * time.Second), Actor: fmt.Sprintf("oidc:caller-%03d", i%1000),
				Action: "api.call", Object: "GET /api/v1/certificates", Result: "ok: 200 from 127.0.0.1:1"}
		})
		if err != nil {
			benchEnv.err = err
			return
		}
		s, err := New(Config{Engine: e, Store: st, Authenticator: headerAuth{}, RateBurst: 1 << 30})
		if err != nil {
			benchEnv.err = err
			return
		}
		benchEnv.srv = httptest.NewServer(s)
	})
	if benchEnv.err != nil {
		b.Fatal(benchEnv.err)
	}
	return benchEnv.srv
}

// benchWorkers is the callers at once, as the issue asks (C=8).
const benchWorkers = 8

// benchCall runs one request of the load and checks its answer.
type benchCall func(worker int, i int64) error

// runLoad calls call b.N times from benchWorkers goroutines and reports
// p50 and p99 latency and requests per second.
func runLoad(b *testing.B, call benchCall) {
	var next atomic.Int64
	lat := make([][]time.Duration, benchWorkers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range benchWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := call(w, i-1); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	}
}

// BenchmarkAPICertificates: authenticated GET /api/v1/certificates pages of
// 100 out of 100,000 records, 8 callers at once, each following the
// cursor: every certificate ("page"), and a name search that 100 records
// match ("name"). Reports p50 and p99 latency and requests per second;
// every call is audited as in production.
func BenchmarkAPICertificates(b *testing.B) {
	srv := benchServer(b)
	for _, bc := range []struct{ name, query string }{
		{"page", ""},
		{"name", "&name=h0999"}, // h099900 ... h099999
	} {
		b.Run(bc.name, func(b *testing.B) {
			get := func(cursor string) (*http.Request, *http.Response, error) {
				req, err := http.NewRequest("GET", srv.URL+Prefix+"/certificates?limit=100"+bc.query+"&cursor="+cursor, nil)
				if err != nil {
					return nil, nil, err
				}
				req.Header.Set("X-Test-Principal", auditor)
				resp, err := http.DefaultClient.Do(req)
				return req, resp, err
			}
			// The first answer is checked against the document like every test's.
			req, resp, err := get("")
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if errs := benchValidator(b, srv).Check(req, resp, body); resp.StatusCode != 200 || len(errs) > 0 {
				b.Fatalf("first page: %d %v", resp.StatusCode, errs)
			}
			cur := make([]string, benchWorkers)
			runLoad(b, func(w int, _ int64) error {
				_, resp, err := get(cur[w])
				if err != nil {
					return err
				}
				var page Page[Certificate]
				err = json.NewDecoder(resp.Body).Decode(&page)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || len(page.Items) != 100 && page.Next != "" || len(page.Items) == 0 {
					return fmt.Errorf("page: %v, %d items", err, len(page.Items))
				}
				cur[w] = page.Next
				return nil
			})
		})
	}
}

// BenchmarkAPIRevoke: authenticated POST /api/v1/certificates/{serial}/revoke,
// 8 callers at once, each call revoking another certificate of the
// 100,000-record store (real certificates, made before the timer starts);
// the revocation, its audit entry and the call's are each committed.
func BenchmarkAPIRevoke(b *testing.B) {
	srv := benchServer(b)
	serials := benchRevocable(b, b.N)
	revoke := func(serial string) (*http.Request, *http.Response, error) {
		req, err := http.NewRequest("POST", srv.URL+Prefix+"/certificates/"+serial+"/revoke", strings.NewReader(`{"reason":"superseded"}`))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Test-Principal", admin)
		resp, err := http.DefaultClient.Do(req)
		return req, resp, err
	}
	runLoad(b, func(_ int, i int64) error {
		_, resp, err := revoke(serials[i])
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("revoke %s: %s", serials[i], resp.Status)
		}
		return nil
	})
}

var revocableNext atomic.Int64

// benchRevocable stores n more unrevoked certificates with real DER (the
// revocation answers the certificate's detail) and returns their serials.
func benchRevocable(b *testing.B, n int) []string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	first := revocableNext.Add(int64(n)) - int64(n)
	now := time.Now()
	serials := make([]string, n)
	err = sqlitetest.InsertCertificates(context.Background(), filepath.Join(benchEnv.dir, "vccpki.db"), n, func(i int) store.Certificate {
		sn := new(big.Int).SetInt64(0x2000000000000000 + first + int64(i))
		name := fmt.Sprintf("r%06d.argus.vcc.internal", first+int64(i))
		tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			panic(err)
		}
		serials[i] = ca.FormatSerial(sn)
		return store.Certificate{Serial: serials[i], Issuer: "services", Profile: "argus", Requester: "bench", Subject: name,
			Names: []string{name}, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, DER: der}
	})
	if err != nil {
		b.Fatal(err)
	}
	return serials
}

func benchValidator(b *testing.B, srv *httptest.Server) *apitest.Validator {
	v, err := apitest.New(Document, srv.URL+Prefix)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkAPIAudit: authenticated GET /api/v1/audit pages of 100 out of
// more than 100,000 entries, 8 callers at once, each following the
// cursor: the whole log ("page"), and the 100 entries of one caller
// ("actor"), which the store finds by its index.
func BenchmarkAPIAudit(b *testing.B) {
	srv := benchServer(b)
	for _, bc := range []struct{ name, query string }{
		{"page", ""},
		{"actor", "&actor=oidc:caller-042"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cur := make([]string, benchWorkers)
			runLoad(b, func(w int, _ int64) error {
				req, err := http.NewRequest("GET", srv.URL+Prefix+"/audit?limit=100"+bc.query+"&cursor="+cur[w], nil)
				if err != nil {
					return err
				}
				req.Header.Set("X-Test-Principal", auditor)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				var page Page[AuditEntry]
				err = json.NewDecoder(resp.Body).Decode(&page)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || len(page.Items) != 100 && page.Next != "" || len(page.Items) == 0 {
					return fmt.Errorf("page: %d %v, %d items", resp.StatusCode, err, len(page.Items))
				}
				cur[w] = page.Next
				return nil
			})
		})
	}
}
