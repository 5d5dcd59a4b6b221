package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
	"github.com/vcc/vccpki/store/sqlite/sqlitetest"
)

const benchCerts = 100_000

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

// BenchmarkAPICertificates: authenticated GET /api/v1/certificates pages of
// 100 out of 100,000 records, 8 callers at once, each following the
// cursor. Reports p50 and p99 latency and requests per second; every call
// is audited as in production.
func BenchmarkAPICertificates(b *testing.B) {
	srv := benchServer(b)
	get := func(cursor string) (*http.Request, *http.Response, error) {
		req, err := http.NewRequest("GET", srv.URL+Prefix+"/certificates?limit=100&cursor="+cursor, nil)
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
	if errs := checkResponse(benchRouter(b, srv), req, resp, body); resp.StatusCode != 200 || len(errs) > 0 {
		b.Fatalf("first page: %d %v", resp.StatusCode, errs)
	}
	const workers = 8
	var next atomic.Int64
	lat := make([][]time.Duration, workers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			cur := ""
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				_, resp, err := get(cur)
				if err != nil {
					b.Error(err)
					return
				}
				var page Page[Certificate]
				err = json.NewDecoder(resp.Body).Decode(&page)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil || len(page.Items) != 100 && page.Next != "" {
					b.Errorf("page: %v, %d items", err, len(page.Items))
					return
				}
				cur = page.Next
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

func benchRouter(b *testing.B, srv *httptest.Server) routers.Router {
	doc, err := loadDocument()
	if err != nil {
		b.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: srv.URL + Prefix}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		b.Fatal(err)
	}
	return router
}
