package est_test

import (
	"strings"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestCurlEnroll enrols with curl and openssl alone against `vccpki serve`: the CSR is openssl's
// base64 DER, sent without Content-Transfer-Encoding (RFC 8951 §3), and
// the answer is read by openssl pkcs7.
func TestCurlEnroll(t *testing.T) {
	curl := harness.Tool(t, "curl")
	openssl := harness.Tool(t, "openssl")
	bash := harness.Tool(t, "bash")
	t.Parallel()
	env := startEST(t)
	dir := t.TempDir()
	runTool(t, dir, openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "k.pem",
		"-subj", "/", "-addext", "subjectAltName=DNS:curl.argus.test", "-outform", "DER", "-out", "c.der")
	script := openssl + " base64 -in c.der | " + curl + ` -sSf --cacert "$1" --user "$2" -H "Content-Type: application/pkcs10" --data-binary @- "$3" | ` +
		openssl + " base64 -d | " + openssl + " pkcs7 -inform DER -print_certs -out cert.pem && " +
		openssl + ` x509 -in cert.pem -noout -ext subjectAltName`
	out := runTool(t, dir, bash, "-euo", "pipefail", "-c", script, "-", env.rootFile,
		"argus-agent:"+env.passwordOf("argus-agent"), "https://"+env.addr+"/.well-known/est/argus/simpleenroll")
	if !strings.Contains(out, "DNS:curl.argus.test") {
		t.Errorf("certificate SANs: %s", out)
	}
}
