package main
import (
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/zmap/zlint/v3"
	_ "github.com/zmap/zcrypto/x509"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite"
)
func main() {}
