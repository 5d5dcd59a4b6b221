package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"

	"golang.org/x/oauth2"

	"github.com/vcc/vccpki/api/client"
)

// The remote CLI: vccpki login stores a token, then the admin commands
// that have --server go through the API instead of the store.

// ServerEnv names the server when --server is not given.
const serverEnv = "VCCPKI_SERVER"

func runLogin(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vccpki login", flag.ContinueOnError)
	fs.SetOutput(out)
	server := fs.String("server", os.Getenv(serverEnv), "the vccpki server, https://HOST[:PORT] (default: $"+serverEnv+")")
	clientID := fs.String("client-id", "", "the OpenID client to log in as (default: the server's api.auth.oidc.cli_client_id)")
	caFile := fs.String("ca", "", "the server's root certificate (PEM), when the system does not trust it")
	cc := fs.Bool("client-credentials", false, "log in as a client (automation) with its secret, instead of as a person (device flow)")
	secretFile := fs.String("client-secret-file", "", "file (mode 0600) holding the client secret (default: $"+client.SecretEnv+"); never on the command line")
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: vccpki login --server URL [--client-id ID] [--ca root.pem] [--client-credentials [--client-secret-file FILE]]\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *server == "" {
		return &exitError{2, "login needs --server https://<your CA> (or $" + serverEnv + ")"}
	}
	if !*cc && *secretFile != "" {
		return &exitError{2, "--client-secret-file goes with --client-credentials"}
	}
	o := client.LoginOptions{Server: strings.TrimRight(*server, "/"), ClientID: *clientID, ClientCredentials: *cc, SecretFile: *secretFile}
	if *caFile != "" {
		pem, err := readInput(*caFile, 1<<20)
		if err != nil {
			return err
		}
		o.CAPEM = pem
	}
	if *cc {
		s, err := client.ReadSecret(*secretFile)
		if err != nil {
			return &exitError{2, err.Error()}
		}
		o.Secret = s
	}
	o.Prompt = func(da *oauth2.DeviceAuthResponse) {
		if da.VerificationURIComplete != "" {
			fmt.Fprintf(out, "To log in, open %s\n(or open %s and enter the code %s)\n", da.VerificationURIComplete, da.VerificationURI, da.UserCode)
		} else {
			fmt.Fprintf(out, "To log in, open %s and enter the code %s\n", da.VerificationURI, da.UserCode)
		}
		fmt.Fprintln(out, "Waiting for you to approve...")
	}
	cr, err := client.Login(ctx, o)
	if err != nil {
		return err
	}
	path, err := client.CredentialsPath()
	if err != nil {
		return err
	}
	if err := cr.Save(path); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "logged in to %s as client %s (%s); the token is kept in %s\n", cr.Server, cr.ClientID, strings.ReplaceAll(cr.Grant, "_", " "), path)
	return err
}

func runLogout(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vccpki logout", flag.ContinueOnError)
	fs.SetOutput(out)
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := client.CredentialsPath()
	if err != nil {
		return err
	}
	if err := os.Remove(path); errors.Is(err, iofs.ErrNotExist) {
		_, err = fmt.Fprintln(out, "not logged in")
		return err
	} else if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "logged out: removed %s\n", path)
	return err
}

// remoteFlags choose between the API (a server) and the local store.
type remoteFlags struct {
	server string
	local  bool
}

func addRemoteFlags(fs *flag.FlagSet) *remoteFlags {
	rf := &remoteFlags{}
	fs.StringVar(&rf.server, "server", "", "go through this server's API (default: $"+serverEnv+", else the server of vccpki login); without any, the local store")
	fs.BoolVar(&rf.local, "local", false, "use the local store on the CA host even when logged in (bootstrap, break-glass)")
	return rf
}

// client returns the API client when the command goes to a server, nil
// when it works on the local store.
func (rf *remoteFlags) client() (*client.Client, error) {
	if rf.local {
		if rf.server != "" {
			return nil, &exitError{2, "--local and --server exclude each other"}
		}
		return nil, nil
	}
	server := rf.server
	if server == "" {
		server = os.Getenv(serverEnv)
	}
	path, err := client.CredentialsPath()
	if err != nil {
		if server == "" {
			return nil, nil // no home (a unit, cron): no stored login, local mode
		}
		return nil, err
	}
	cr, err := client.LoadCredentials(path)
	switch {
	case errors.Is(err, client.ErrNotLoggedIn) && server == "":
		return nil, nil // local mode
	case errors.Is(err, client.ErrNotLoggedIn):
		return nil, fmt.Errorf("not logged in to %s: run vccpki login --server %s", server, server)
	case err != nil:
		return nil, err
	}
	server = strings.TrimRight(server, "/")
	if server != "" && server != cr.Server {
		return nil, fmt.Errorf("logged in to %s, not %s: run vccpki login --server %s", cr.Server, server, server)
	}
	hc, err := client.HTTPClient([]byte(cr.CAPEM))
	if err != nil {
		return nil, err
	}
	save := func(c *client.Credentials) error { return c.Save(path) }
	return &client.Client{Base: cr.Server, HTTP: hc, Token: func(ctx context.Context) (string, error) { return cr.Token(ctx, save) }}, nil
}

// remoteErr adds advice to a refusal of the API.
func remoteErr(err error) error {
	if errors.Is(err, client.ErrUnauthorized) {
		return fmt.Errorf("%w\nrun vccpki login again", err)
	}
	return err
}
