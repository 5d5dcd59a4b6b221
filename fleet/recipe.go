package fleet

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/profile"
)

// RecipeInput is what a recipe is written from. The credential is the one
// `vccpki enrol` has just created and bound to the service.
type RecipeInput struct {
	Service       *Service
	Profile       *profile.Profile
	ACMEDirectory string // https://HOST:PORT/acme/directory
	ESTBase       string // https://HOST:PORT (the EST URLs are under /.well-known/est/<profile>)
	RootPEM       []byte
	Email         string
	EABKeyID      string
	EABHMAC       string
	ESTUser       string
	ESTPassword   string
}

// RecipeFile is one file of a recipe.
type RecipeFile struct {
	Name    string
	Mode    uint32
	Secret  bool // holds the credential: copy it to the service host only
	Purpose string
	Body    string
}

// Schedule is when a service's client runs and when it renews, derived
// from its profile (validity and renewal fraction, the ARI window).
type Schedule struct {
	// Interval between two runs of the renewal timer: a quarter of the
	// renewal window's lead, between 1 minute and 1 hour. The window sees
	// several runs, and an emergency reissue is picked up within one
	// interval (lego also waits up to one interval for the time ARI chose).
	Interval time.Duration
	// RenewLead is how long before expiry a client without ARI (certbot,
	// the EST script) renews: the middle of the ARI window.
	RenewLead time.Duration
	// LegoDays is lego's --days fallback for when ARI says "not yet";
	// 0 means --dynamic (the lifetime is shorter than two days).
	LegoDays int
}

// MaxRenewCheck is the longest interval between two runs of a recipe's
// renewal check.
const MaxRenewCheck = 20 * time.Minute

// ScheduleFor derives the schedule of a profile. The lifetime includes the
// backdate, as in the certificates.
func ScheduleFor(p *profile.Profile) Schedule {
	lifetime := p.Validity + p.Backdate
	lead := time.Duration(float64(lifetime) * p.RenewalFraction)
	// At most every MaxRenewCheck: after a CA rollover and vccpki reissue
	// (emergency re-certification, docs/ca-lifecycle.md), every client
	// must hold a new-key certificate within 30 minutes; the timer's
	// random delay adds a tenth of the interval.
	iv := min(max(lead/4, time.Minute), MaxRenewCheck).Truncate(time.Minute)
	// The ARI window is [expiry-lead, expiry-lead/2] (profile.RenewalWindow).
	s := Schedule{Interval: iv, RenewLead: lead * 3 / 4}
	// lego --days N renews when fewer than N+1 whole days are left; pick N
	// so that this happens inside the window, after ARI had its chance.
	s.LegoDays = int((lead / 2).Hours() / 24)
	return s
}

// Recipe writes the files that enrol a service with its client and keep
// its certificate renewed. The service's private key is made on the
// service host by the client; it never passes through vccpki.
func Recipe(in RecipeInput) ([]RecipeFile, error) {
	if in.Profile == nil || in.Service == nil {
		return nil, fmt.Errorf("recipe: no service or profile")
	}
	sch := ScheduleFor(in.Profile)
	var obtain, renew string
	if in.Service.Client == ClientLego || in.Service.Client == ClientCertbot {
		// They go into a here-document and a certbot configuration file
		// verbatim: base64url and the key ID's letters only.
		if !credentialSafe(in.EABKeyID) || !credentialSafe(in.EABHMAC) {
			return nil, fmt.Errorf("recipe: the external account key ID and HMAC must be base64url")
		}
	}
	switch in.Service.Client {
	case ClientLego:
		obtain, renew = legoScripts(in, sch)
	case ClientCertbot:
		obtain, renew = certbotScripts(in, sch)
	case ClientEstclient:
		e, err := estScripts(in, sch)
		if err != nil {
			return nil, err
		}
		obtain, renew = e[0], e[1]
	default:
		return nil, fmt.Errorf("recipe: no recipe for client %q", in.Service.Client)
	}
	name := in.Service.Name
	unit := "vccpki-renew-" + name
	files := []RecipeFile{
		{Name: "obtain.sh", Mode: 0o700, Secret: true, Purpose: "run once on the " + name + " host: writes the CA root, gets the first certificate", Body: obtain},
		{Name: "renew.sh", Mode: 0o755, Purpose: "what the timer runs: renews when the CA says so", Body: renew},
		{Name: unit + ".service", Mode: 0o644, Purpose: "systemd service (copy renew.sh to /etc/vccpki/" + name + "/renew.sh)", Body: systemdService(name)},
		{Name: unit + ".timer", Mode: 0o644, Purpose: "systemd timer: systemctl enable --now " + unit + ".timer", Body: systemdTimer(name, sch.Interval)},
		{Name: unit + ".cron", Mode: 0o644, Purpose: "or, without systemd, this line in /etc/cron.d/" + unit, Body: cronLine(name, sch.Interval)},
	}
	return files, nil
}

// header is the start of both scripts: the variables a site may override.
func header(in RecipeInput, title string, client string) string {
	name := in.Service.Name
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# %s for service %s (profile %s), written by vccpki enrol.\n", title, name, in.Profile.Name)
	b.WriteString("set -eu\n")
	fmt.Fprintf(&b, "DIR=\"${DIR:-/etc/vccpki/%s}\"   # the client's key, certificates and account; keep it 0700\n", name)
	switch client {
	case ClientLego:
		b.WriteString("LEGO=\"${LEGO:-lego}\"\n")
	case ClientCertbot:
		b.WriteString("CERTBOT=\"${CERTBOT:-certbot}\"\n")
	case ClientEstclient:
		b.WriteString("ESTCLIENT=\"${ESTCLIENT:-estclient}\"   # go install github.com/globalsign/est/cmd/estclient@v1.0.7\n")
	}
	return b.String()
}

func writeRoot(in RecipeInput, name string) string {
	return fmt.Sprintf(`RELOAD="${RELOAD:-systemctl reload-or-restart %s}"   # run after each new certificate
umask 077
mkdir -p "$DIR"
# The CA's root certificate: the only trust anchor the client needs.
cat > "$DIR/root.pem" <<'VCCPKI_ROOT'
%sVCCPKI_ROOT
# The hook the client runs after each new certificate.
printf '#!/bin/sh\n%%s\n' "$RELOAD" > "$DIR/reload"
chmod 755 "$DIR/reload"
`, name, in.RootPEM)
}

func legoScripts(in RecipeInput, sch Schedule) (string, string) {
	domains := ""
	for _, n := range in.Service.Names() {
		domains += " --domains " + shellQuote(n)
	}
	email := ""
	if in.Email != "" {
		email = " --email " + shellQuote(in.Email)
	}
	common := fmt.Sprintf(`LEGO_CA_CERTIFICATES="$DIR/root.pem" "$LEGO" --server %s --accept-tos%s --path "$DIR" \
  --key-type ec256%s --http --http.port "$HTTP_LISTEN"`, shellQuote(in.ACMEDirectory), email, domains)
	listen := "HTTP_LISTEN=\"${HTTP_LISTEN:-:80}\"   # http-01 (RFC 8555 §8.3): the CA connects to port 80 of each name\n"

	obtain := header(in, "First certificate with lego (ACME, RFC 8555)", ClientLego) + listen + writeRoot(in, in.Service.Name) +
		"# The external account key binds the account to " + in.Service.Name + " (RFC 8555 §7.3.4); it is shown once.\n" +
		"# lego reads its HMAC from the environment: a command line is readable by every user.\n" +
		fmt.Sprintf("LEGO_EAB_HMAC=%s ", shellQuote(in.EABHMAC)) + common + fmt.Sprintf(` \
  --eab --kid %s \
  run --profile %s --run-hook "$DIR/reload"
`, shellQuote(in.EABKeyID), shellQuote(in.Profile.Name))

	fallback := "--dynamic"
	if sch.LegoDays > 0 {
		fallback = fmt.Sprintf("--days %d", sch.LegoDays)
	}
	renew := header(in, "Renewal with lego, following ACME renewal information (ARI, RFC 9773)", ClientLego) + listen +
		fmt.Sprintf("ARI_WAIT=\"${ARI_WAIT:-%s}\"   # lego waits up to this for the time ARI chose (the timer's interval)\n", goDuration(sch.Interval)) +
		"# lego asks the CA's renewalInfo first: inside the window, or at once after an\n" +
		"# emergency reissue (a window in the past), it renews and sends \"replaces\".\n" +
		"# " + fallback + " is the latest lego renews on its own if ARI keeps saying \"not yet\".\n" +
		common + fmt.Sprintf(` \
  renew --profile %s --ari-wait-to-renew-duration "$ARI_WAIT" %s --no-random-sleep --renew-hook "$DIR/reload"
`, shellQuote(in.Profile.Name), fallback)
	return obtain, renew
}

func certbotScripts(in RecipeInput, sch Schedule) (string, string) {
	name := in.Service.Name
	domains := ""
	for _, n := range in.Service.Names() {
		domains += " -d " + shellQuote(n)
	}
	email := " --register-unsafely-without-email"
	if in.Email != "" {
		email = " --email " + shellQuote(in.Email)
	}
	dirs := `--config-dir "$DIR/config" --work-dir "$DIR/work" --logs-dir "$DIR/logs"`
	listen := "HTTP_ADDRESS=\"${HTTP_ADDRESS:-}\"   # http-01 listener address (empty: all)\nHTTP_PORT=\"${HTTP_PORT:-80}\"\n"
	obtain := header(in, "First certificate with certbot (ACME, RFC 8555)", ClientCertbot) + listen + writeRoot(in, name) +
		"# The external account key binds the account to " + name + " (RFC 8555 §7.3.4), so its orders use\n" +
		"# profile " + in.Profile.Name + " (certbot sends no ACME profile). It is shown once. certbot takes\n" +
		"# it from a configuration file (0600, removed after) rather than the command line, which\n" +
		"# every user can read.\n" +
		"trap 'rm -f \"$DIR/eab.ini\"' EXIT\n" +
		fmt.Sprintf("cat > \"$DIR/eab.ini\" <<'VCCPKI_EAB'\neab-kid = %s\neab-hmac-key = %s\nVCCPKI_EAB\n", in.EABKeyID, in.EABHMAC) +
		fmt.Sprintf(`REQUESTS_CA_BUNDLE="$DIR/root.pem" "$CERTBOT" certonly --non-interactive --agree-tos%s \
  --server %s -c "$DIR/eab.ini" \
  --key-type ecdsa --cert-name %s%s \
  --standalone --http-01-address "$HTTP_ADDRESS" --http-01-port "$HTTP_PORT" \
  %s --deploy-hook "$DIR/reload"
`, email, shellQuote(in.ACMEDirectory), shellQuote(name), domains, dirs) +
		"# certbot 2.x has no ARI: renew in the middle of the profile's renewal window.\n" +
		fmt.Sprintf("sed -i 's/^#* *renew_before_expiry = .*/renew_before_expiry = %s/' \"$DIR/config/renewal/%s.conf\"\n", certbotInterval(sch.RenewLead), name)
	renew := header(in, "Renewal with certbot", ClientCertbot) +
		"# certbot renews when less than renew_before_expiry is left, or at once when the\n" +
		"# CA's OCSP responder says the certificate is revoked (an emergency reissue).\n" +
		fmt.Sprintf(`REQUESTS_CA_BUNDLE="$DIR/root.pem" "$CERTBOT" renew --non-interactive --no-random-sleep-on-renew \
  --cert-name %s %s
`, shellQuote(name), dirs)
	return obtain, renew
}

func estScripts(in RecipeInput, sch Schedule) ([2]string, error) {
	u, err := url.Parse(in.ESTBase)
	if err != nil || u.Host == "" {
		return [2]string{}, fmt.Errorf("recipe: EST base %q is not an https:// URL", in.ESTBase)
	}
	name, label := in.Service.Name, in.Profile.Name
	common := fmt.Sprintf(`-server %s -aps %s -explicit "$DIR/root.pem" -timeout 60s`, shellQuote(u.Host), shellQuote(label))
	var dnsNames, ips []string
	for _, n := range in.Service.Names() {
		if net.ParseIP(n) != nil {
			ips = append(ips, n)
		} else {
			dnsNames = append(dnsNames, n)
		}
	}
	names := ""
	if len(dnsNames) > 0 {
		names += " -dnsnames " + shellQuote(strings.Join(dnsNames, ","))
	}
	if len(ips) > 0 {
		names += " -ips " + shellQuote(strings.Join(ips, ","))
	}
	// The key is made here, on the service host; only a CSR leaves it.
	enrol := fmt.Sprintf(`enrol_new_key() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/key.new"
  "$ESTCLIENT" enroll %s -key "$DIR/key.new"%s \
    -config "$DIR/est.json" -out "$DIR/cert.new"
  mv "$DIR/key.new" "$DIR/key.pem"
  install_cert
}
`, common, names)
	install := fmt.Sprintf(`install_cert() {
  "$ESTCLIENT" cacerts %s -intermediates -out "$DIR/chain.pem"
  mv "$DIR/cert.new" "$DIR/cert.pem"
  cat "$DIR/cert.pem" "$DIR/chain.pem" > "$DIR/fullchain.new" && mv "$DIR/fullchain.new" "$DIR/fullchain.pem"
  "$DIR/reload"
}
`, common)
	// estclient reads them from its configuration file (-config): a
	// command line (-user, -pass) is readable by every user.
	creds, err := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{in.ESTUser, in.ESTPassword})
	if err != nil {
		return [2]string{}, err
	}
	obtain := header(in, "First certificate with the EST client (RFC 7030)", ClientEstclient) + writeRoot(in, name) +
		"# HTTP Basic credentials bound to " + name + " (RFC 7030 §3.2.3), in the EST client's\n" +
		"# configuration file (0600): kept on this host only to enrol again if the certificate\n" +
		"# is ever revoked. They are shown once.\n" +
		fmt.Sprintf("cat > \"$DIR/est.json\" <<'VCCPKI_EST'\n%s\nVCCPKI_EST\nchmod 600 \"$DIR/est.json\"\n", creds) +
		install + enrol + "enrol_new_key\n"
	renew := header(in, "Renewal with the EST client", ClientEstclient) +
		fmt.Sprintf("LEAD=%d   # seconds before expiry: the middle of the profile's renewal window\n", int(sch.RenewLead.Seconds())) +
		install + enrol +
		`ocsp_status() {
  url=$(openssl x509 -in "$DIR/cert.pem" -noout -ocsp_uri)
  [ -n "$url" ] || { echo unknown; return; }
  openssl ocsp -issuer "$DIR/chain.pem" -cert "$DIR/cert.pem" -url "$url" -CAfile "$DIR/root.pem" -verify_other "$DIR/chain.pem" -no_nonce 2>/dev/null |
    sed -n 's/^.*cert.pem: //p'
}
if [ "$(ocsp_status)" = revoked ]; then
  # Revoked (an emergency reissue): the old certificate cannot authenticate a
  # re-enrolment (RFC 7030 §3.3.2), so enrol again with a new key.
  enrol_new_key
elif ! openssl x509 -in "$DIR/cert.pem" -noout -checkend "$LEAD" >/dev/null; then
  # Re-enrolment (RFC 7030 §4.2.2), authenticated by the current certificate.
  ` + fmt.Sprintf(`"$ESTCLIENT" reenroll %s -key "$DIR/key.pem" -certs "$DIR/cert.pem" -out "$DIR/cert.new"`, common) + `
  install_cert
fi
`
	return [2]string{obtain, renew}, nil
}

func systemdService(name string) string {
	return fmt.Sprintf(`[Unit]
Description=Renew the %[1]s certificate from vccpki
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/etc/vccpki/%[1]s/renew.sh
`, name)
}

func systemdTimer(name string, every time.Duration) string {
	return fmt.Sprintf(`[Unit]
Description=Run the %[1]s certificate renewal every %[2]s

[Timer]
OnBootSec=5min
OnUnitActiveSec=%[2]s
RandomizedDelaySec=%[3]s
Persistent=true

[Install]
WantedBy=timers.target
`, name, goDuration(every), goDuration(every/10))
}

// cronLine runs renew.sh every interval (whole minutes).
func cronLine(name string, every time.Duration) string {
	spec := fmt.Sprintf("*/%d * * * *", max(1, int(every.Minutes())))
	if every >= time.Hour {
		spec = "17 * * * *"
	}
	return fmt.Sprintf("%s root /etc/vccpki/%s/renew.sh >>/var/log/vccpki-renew-%s.log 2>&1\n", spec, name, name)
}

// goDuration writes d as systemd and lego read it: "12h", "5m", "30s".
func goDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// certbotInterval writes d as certbot's renew_before_expiry reads it.
func certbotInterval(d time.Duration) string {
	if d >= time.Hour {
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	}
	return fmt.Sprintf("%d seconds", max(1, int(d.Seconds())))
}

// credentialSafe reports whether s holds only base64url letters (and
// '.'), which need no quoting in any file of a recipe. Empty is allowed:
// vccpki enrol checks the recipe before it makes the credential.
func credentialSafe(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
