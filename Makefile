# vccpki — see README.md. `make test` is what CI runs.
GO      ?= go
BIN     := bin/vccpki
CONFIG  ?= configs/dev.yaml
export GOFLAGS := -buildvcs=false

.PHONY: build run test test-root test-conformance check bench fuzz deps clean

build:
	$(GO) build -o $(BIN) ./cmd/vccpki

# The server on the embedded default store, with the development configuration.
run: build
	./$(BIN) serve --config $(CONFIG)

# The whole suite under the race detector: first what it needs from Debian
# (installed once, quiet when nothing is missing), then formatting and vet,
# the root module's unit and in-process tests, and conformance/ (its own
# module: the built binary against real clients and services).
# The two modules run side by side: most of the suite waits on clients and
# servers, not on the CPU.
test: deps check
	@$(MAKE) --no-print-directory -j2 test-root test-conformance

test-root:
	$(GO) test -race -count=1 -timeout 30m ./...

test-conformance:
	cd conformance && $(GO) test -race -count=1 -timeout 30m ./...

# gofmt, go vet and staticcheck over both modules.
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	cd conformance && $(GO) vet ./... && $(GO) tool staticcheck ./...

# ACME load: issuances per run and concurrent workers, against vccpki and pebble.
ACME_N ?= 800
ACME_C ?= 8

# Benchmarks: the issuance path with its split (check, lint, sign, store), the store and CRL
# builds of 100k and 1M entries; ACME requests and the ACME load (vccpki and pebble, real
# http-01); the EST load (vccpki serve and globalsign's estserver, C=8, Basic and client
# certificates); the time-stamp authority; the OCSP hot path in process, how soon a revocation
# is served, and OCSP under wrk load with 10k and 1M certificates against openssl ocsp (needs
# wrk: apt-get install -y wrk).
# The load generators in conformance/ run the binary of `make build` (no race detector).
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 1 -timeout 30m ./ca/ ./store/...
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./acme/
	cd conformance && VCCPKI_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench ACMELoad -benchtime 1x ./bench/acmeload/ -args -acme.n $(ACME_N) -acme.c $(ACME_C)
	cd conformance && VCCPKI_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench ESTLoad -benchtime 1x -count 1 -timeout 20m ./bench/estload/ -args -est.load.c 8 -est.load.duration 5s
	@# Time-stamps: bare P-256 signing, the engine, POST /tsa at C=16/64/256 (p50, p99, peak RSS), openssl ts -reply.
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 1 ./tsa/
	$(GO) test -run '^$$' -bench 'BenchmarkHandler' -benchtime 3s -count 1 ./ocsp/
	$(GO) test -run '^$$' -bench 'BenchmarkRevocationPickup' -benchtime 30x -count 1 ./ocsp/
	$(GO) test -run '^$$' -bench 'BenchmarkVerifyModel' -benchtime 3x -count 1 -timeout 20m ./sign/verify/
	$(GO) test -run '^$$' -bench 'BenchmarkServerSign' -benchtime 3s -count 1 ./api/
	cd conformance && VCCPKI_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'BenchmarkOCSPLoad' -benchtime 1x -count 1 -timeout 60m ./bench/ocspload/
	@# Keys in a SoftHSM2 token beside Go ECDSA: bare signatures and the cost of the bounded wrapper
	@# (needs softhsm2: make deps). BenchmarkKeyBackend, in ./ca/ above, compares live OCSP responses
	@# and RFC 3161 tokens with the keys in the software store and in SoftHSM2.
	$(GO) test -run '^$$' -bench TokenSign -benchtime 3s -count 1 ./ca/keys/pkcs11/
	@# Fleet discovery: one pass over 50 TLS endpoints (handshake and OCSP each), 1 and 8 at once.
	$(GO) test -run '^$$' -bench 'BenchmarkDiscover' -benchtime 20x -count 1 ./fleet/
	@# Management API with 100,000 certificates and 100,000 audit entries stored, C=8 (p50, p99, req/s):
	@# GET /api/v1/certificates pages of 100 (all, a name search), POST …/revoke, GET /api/v1/audit pages of 100 (all, one actor).
	$(GO) test -run '^$$' -bench 'BenchmarkAPICertificates|BenchmarkAPIRevoke|BenchmarkAPIAudit' -benchtime 3s -count 1 ./api/
	@# Scale-out: ACME and OCSP throughput with 1, 2 and 3 instances on one PostgreSQL (fsync on) beside SQLite.
	cd conformance && VCCPKI_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'BenchmarkScaleOut' -benchtime 1x -count 1 -timeout 20m ./bench/scaleout/
	@# Time-stamps beside sigstore's timestamp-authority (file signer, P-256), one load generator, C=8 and C=16, with bare P-256 signing.
	cd conformance && VCCPKI_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench TSALoad -benchtime 1x -count 1 -timeout 20m ./bench/tsaload/

# A short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -ho '^func Fuzz[A-Za-z0-9_]*' | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rl --include='*_test.go' "^func $$spec(" . | head -1 | xargs dirname); \
		echo "== $$pkg $$spec"; $(GO) test -run '^$$' -fuzz "^$$spec$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# Tools the test suite needs on a fresh Debian machine (make test runs this first).
deps:
	@./.ci/install-deps

clean:
	rm -rf bin
