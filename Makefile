# vccpki — see README.md. `make test` is what CI runs.
GO      ?= go
BIN     := bin/vccpki
CONFIG  ?= configs/dev.yaml
export GOFLAGS := -buildvcs=false

.PHONY: build run test check bench fuzz deps clean

build:
	$(GO) build -o $(BIN) ./cmd/vccpki

# The server on the embedded default store, with the development configuration.
run: build
	./$(BIN) serve --config $(CONFIG)

# The whole suite: formatting, vet, then every test (real SQLite files, openssl).
test: check
	$(GO) test -count=1 -timeout 20m ./...

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Benchmarks: the issuance path with its split (check, lint, sign, store), the store,
# CRL builds of 100k and 1M entries; the OCSP hot path in process; how soon a revocation is
# served; and OCSP under wrk load
# with 10k and 1M certificates against openssl ocsp (needs wrk: apt-get install -y wrk).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 1 -timeout 30m ./ca/ ./store/...
	$(GO) test -run '^$$' -bench 'BenchmarkHandler' -benchtime 3s -count 1 ./ocsp/
	$(GO) test -run '^$$' -bench 'BenchmarkRevocationPickup' -benchtime 30x -count 1 ./ocsp/
	$(GO) test -run '^$$' -bench 'BenchmarkOCSPLoad' -benchtime 1x -count 1 -timeout 60m ./ocsp/

# A short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -ho '^func Fuzz[A-Za-z0-9_]*' | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rl --include='*_test.go' "^func $$spec(" . | head -1 | xargs dirname); \
		echo "== $$pkg $$spec"; $(GO) test -run '^$$' -fuzz "^$$spec$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# Tools the test suite needs on a fresh Debian machine (CI calls this).
deps:
	./.ci/install-deps

clean:
	rm -rf bin
