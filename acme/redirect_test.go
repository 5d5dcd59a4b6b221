package acme_test

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme/acmetest"
)

// TestHTTP01RedirectFollowsOrderProfile runs http-01 through the server:
// a redirect is followed to a name the order's profile (default: *.test)
// admits, whose page holds the key authorization and a secret (so it is
// an incorrectResponse), and refused, as connection, to one it does not.
// The challenge error never holds what the page said (issue 13 item 3).
// The fake DNS answers 127.0.0.1 for every name.
func TestHTTP01RedirectFollowsOrderProfile(t *testing.T) {
	e := testEnv
	const secret = "INTERNAL-SECRET: db_password=hunter2"
	for _, tc := range []struct {
		name, target, want string // want: the challenge error's type
	}{
		{"13.3 redirect to a name the order's profile admits", "other.test", "urn:ietf:params:acme:error:incorrectResponse"},
		{"13.3 redirect to a name the order's profile does not admit", "admin.example.org", "urn:ietf:params:acme:error:connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := acmetest.NewClient(t, e.DirURL, e.Client())
			c.Register(nil).Must(t, 201)
			o, r := c.NewOrder("redirect.test")
			r.Must(t, 201)
			var a struct {
				Challenges []struct{ Type, URL, Token string }
			}
			c.Post(o.Authorizations[0], nil).Must(t, 200).JSON(t, &a)
			var chURL, keyAuth string
			for _, ch := range a.Challenges {
				if ch.Type == "http-01" {
					chURL, keyAuth = ch.URL, ch.Token+"."+acmetest.Thumbprint(&c.Key.PublicKey)
				}
			}
			port := strconv.Itoa(e.HTTPPort)
			l, err := net.Listen("tcp", "127.0.0.1:"+port)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.HasPrefix(r.Host, tc.target):
					w.Write([]byte(keyAuth + "\n" + secret))
				case r.URL.Path == "/.well-known/acme-challenge/"+strings.Split(keyAuth, ".")[0]:
					http.Redirect(w, r, "http://"+tc.target+":"+port+"/ok", http.StatusFound)
				default:
					http.NotFound(w, r)
				}
			})}
			go srv.Serve(l)
			defer srv.Close()

			var got struct {
				Status string
				Error  struct{ Type, Detail string }
			}
			c.Post(chURL, map[string]any{}).Must(t, 200).JSON(t, &got)
			for deadline := time.Now().Add(10 * time.Second); (got.Status == "pending" || got.Status == "processing") && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				c.Post(chURL, nil).Must(t, 200).JSON(t, &got)
			}
			if got.Status != "invalid" || got.Error.Type != tc.want {
				t.Fatalf("got %s %+v; want invalid, %s", got.Status, got.Error, tc.want)
			}
			if strings.Contains(got.Error.Detail, "INTERNAL-SECRET") || strings.Contains(got.Error.Detail, "hunter2") {
				t.Fatalf("the challenge error repeats the page: %q", got.Error.Detail)
			}
		})
	}
}
