// Command vccpki is the vccpki certificate authority: `vccpki serve` runs
// the server, the other sub-commands administer it, also while it runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one sub-command. run gets the arguments after its name.
type command struct {
	name    string // may be two words: "certs list"
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
}

var commands = []command{
	{"serve", "run the CA server", runServe},
	{"init", "create the CA hierarchy in an empty data directory", runInit},
	{"issue", "issue a certificate from a CSR file (operator issuance)", runIssue},
	{"revoke", "revoke a certificate by serial number", runRevoke},
	{"certs list", "list issued certificates", runCertsList},
	{"profiles list", "list the profile templates", runProfilesList},
	{"audit verify", "verify the hash chain of the audit log", runAuditVerify},
	{"est user add", "create HTTP Basic credentials for EST, bound to one service", runESTUserAdd},
	{"est user list", "list the EST Basic users (never their password)", runESTUserList},
	{"est user remove", "withdraw a user's EST Basic credentials", runESTUserRemove},
	{"est grant list", "list the operators' EST grants", runESTGrantList},
	{"est grant remove", "withdraw an EST grant", runESTGrantRemove},
	{"est grant", "let an EST client certificate enrol for names beyond its own (audited)", runESTGrant},
	{"tsa lookup", "find the record of a time-stamp token by serial, imprint or file", runTSALookup},
	{"eab create", "create an ACME external account binding key for a service", runEABCreate},
	{"eab list", "list the ACME external account binding keys (never their secret)", runEABList},
	{"eab revoke", "withdraw an EAB key and revoke the account it bound", runEABRevoke},
	{"unseal", "give one key holder's share to a sealed server (vccpki init --shares)", runUnseal},
	{"seal", "seal the running server: wipe the CA keys from its memory", runSeal},
	{"ca add-admin-ca", "add the VCC Admin CA (API client certificates) to a hierarchy made without it", runCAAddAdminCA},
	{"ca create", "create an issuing CA below the root or another CA, with name constraints and its OCSP responder", runCACreate},
	{"ca revoke", "revoke an issuing CA: on its parent's CRL and OCSP, issuance under it stops", runCARevoke},
	{"ca rollover", "give an issuing CA a new key and certificate; the old key keeps its CRL and OCSP", runCARollover},
	{"ca request", "make a new CA's key and request file for the offline root's ceremony (vccpki ceremony create-ca)", runCARequest},
	{"ceremony sign-crl", "on the offline root's host: sign the root CRL into an artefact file", runCeremonySignCRL},
	{"ceremony create-ca", "on the offline root's host: sign a vccpki ca request into an artefact file", runCeremonyCreateCA},
	{"ceremony rollover", "on the offline root's host: sign a vccpki ca rollover --request-out into an artefact file", runCeremonyRollover},
	{"ceremony import", "load a ceremony's artefact (root CRL, CA certificate) into this data directory", runCeremonyImport},
	{"ceremony export-state", "write the CA records (no keys) the root's host reads, as a new SQLite store", runCeremonyExportState},
	{"ca set-public-url", "change the base of the OCSP, CRL and caIssuers URLs put in certificates", runCASetPublicURL},
	{"rekey", "split the key store's unseal key into new shares; old shares stop working", runRekey},
	{"discover", "probe every service of the registry and report which is covered", runDiscover},
	{"enrol", "create a service's credential and print its client's recipe", runEnrol},
	{"sign manifest", "write a directory's SHA256SUMS (as sha256sum -c reads it)", runSignManifest},
	{"sign model", "sign a model directory (OpenSSF Model Signing bundle, time-stamped)", runSignModel},
	{"sign file", "sign files: Sigstore bundle (cosign) or CMS detached .p7s (openssl cms)", runSignFile},
	{"verify model", "verify a model directory's signature; exit status says why it failed", runVerifyModel},
	{"verify file", "verify a file's bundle or .p7s; exit status says why it failed", runVerifyFile},
	{"reissue", "revoke a service's or issuer's certificates so that their clients renew now", runReissue},
	{"login", "log in to a server's API (device flow, or --client-credentials) for the remote commands", runLogin},
	{"logout", "forget the stored login", runLogout},
	{"audit export", "print the audit entries as JSON Lines", runAuditExport},
	{"sign key create", "make a signing profile's server-held key and certificate (POST /api/v1/sign uses it)", runSignKeyCreate},
	{"signatures list", "list the signature registry (search by digest, name, signer)", runSignaturesList},
	{"signatures show", "show one registered signature", runSignaturesShow},
	{"approvals list", "list the requests of dual control waiting in the server (or decided)", runApprovalsList},
	{"approvals approve", "approve another pki_admin's request; the server runs it", runApprovalsApprove},
	{"approvals deny", "refuse a pending request (or withdraw one's own); it never runs", runApprovalsDeny},
	{"org create", "create an organisation (a tenant with its own CAs, profiles, credentials and people)", runOrgCreate},
	{"org list", "list the organisations", runOrgList},
	{"org show", "show one organisation and the issuing CAs it owns", runOrgShow},
	{"org add-ca", "give an organisation an issuing CA (its profiles may then name it)", runOrgAddCA},
	{"ca list", "list the CA hierarchy: each CA's role, parent, key generation and status", runCAList},
}

// exitError carries a specific exit status (e.g. a failed verification).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout)
	stop()
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return
	}
	fmt.Fprintln(os.Stderr, "vccpki:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}

func dispatch(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(out)
		return nil
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(ctx, args[len(words):], out)
		}
	}
	// A group word alone ("certs") or an unknown word.
	var near []string
	for _, c := range commands {
		if strings.HasPrefix(c.name, args[0]+" ") {
			near = append(near, c.name)
		}
	}
	if len(near) > 0 {
		return &exitError{2, fmt.Sprintf("%q needs a sub-command: %s", args[0], strings.Join(near, ", "))}
	}
	return &exitError{2, fmt.Sprintf("unknown command %q; run 'vccpki help'", args[0])}
}

func usage(out io.Writer) {
	fmt.Fprintln(out, "vccpki: certificate authority for the VCC services (ACME, EST, OCSP, TSA)")
	fmt.Fprintln(out, "\nUsage: vccpki <command> [flags]    (vccpki <command> --help for its flags)")
	fmt.Fprintln(out, "\nCommands:")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = fmt.Sprintf("  %-*s  %s", width, c.name, c.summary)
	}
	sort.Strings(names)
	fmt.Fprintln(out, strings.Join(names, "\n"))
}

// newFlags makes a flag set that reports errors instead of exiting, with
// the flags every command shares.
func newFlags(name, synopsis string, out io.Writer) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet("vccpki "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	cf := &commonFlags{}
	fs.StringVar(&cf.config, "config", os.Getenv("VCCPKI_CONFIG"), "configuration file (default: $VCCPKI_CONFIG, else built-in defaults)")
	fs.StringVar(&cf.data, "data", "", "data directory (overrides the configuration's data)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: vccpki %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs, cf
}

type commonFlags struct {
	config string
	data   string
}

// parse parses flags and refuses stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{2, err.Error()}
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Sprintf("unexpected argument %q; see %s --help", fs.Arg(0), fs.Name())}
	}
	return nil
}

// parseOneArg parses flags around one positional argument (named what in
// errors) and returns it.
func parseOneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", &exitError{2, err.Error()}
	}
	if fs.NArg() == 0 {
		return "", &exitError{2, fmt.Sprintf("%s needs a %s; see %s --help", fs.Name(), what, fs.Name())}
	}
	arg := fs.Arg(0)
	return arg, parse(fs, fs.Args()[1:]) // flags may also follow
}
