package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runSignManifest(_ context.Context, args []string, out io.Writer) error {
	fs, _ := newFlags("sign manifest", "DIR [--ignore PATTERN]... > SHA256SUMS", out)
	var ignore multiFlag
	fs.Var(&ignore, "ignore", "leave out paths matching this path.Match pattern (repeatable; matched against the path and each element)")
	dir, err := parseOneArg(fs, args, "directory")
	if err != nil {
		return err
	}
	m, err := sign.BuildManifest(dir, sign.ManifestOptions{Ignore: ignore})
	if err != nil {
		return err
	}
	return m.WriteSHA256SUMS(out)
}

// signerFlags are the flags of every signing command.
type signerFlags struct {
	key, cert, chain, tsa string
}

func (sf *signerFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&sf.key, "key", "", "signing key: a PEM file (PKCS#8) or a pkcs11: URI (RFC 7512)")
	fs.StringVar(&sf.cert, "cert", "", "the signer's certificate (PEM; may be followed by its chain)")
	fs.StringVar(&sf.chain, "chain", "", "intermediate certificates (PEM), if not in --cert")
	fs.StringVar(&sf.tsa, "tsa", os.Getenv("VCCPKI_TSA"), "RFC 3161 time-stamping authority URL, e.g. http://HOST:8080/tsa (default $VCCPKI_TSA)")
}

func (sf *signerFlags) open(ctx context.Context) (*sign.Signer, func(), error) {
	if sf.key == "" || sf.cert == "" {
		return nil, nil, &exitError{2, "signing needs --key and --cert"}
	}
	k, err := sign.LoadKey(ctx, sf.key)
	if err != nil {
		return nil, nil, err
	}
	certs, err := sign.ReadCertificates(sf.cert)
	if err != nil {
		k.Close()
		return nil, nil, err
	}
	chain, err := sign.ReadCertificates(sf.chain)
	if err != nil {
		k.Close()
		return nil, nil, err
	}
	s, err := sign.NewSigner(k, certs, chain, sf.tsa)
	if err != nil {
		k.Close()
		return nil, nil, &exitError{2, err.Error()}
	}
	return s, func() { k.Close() }, nil
}

func runSignModel(ctx context.Context, args []string, out io.Writer) error {
	fs, _ := newFlags("sign model", "DIR --key KEY|pkcs11:… --cert CERT [--chain FILE] --tsa URL --out model.sig", out)
	var sf signerFlags
	sf.register(fs)
	var ignore multiFlag
	fs.Var(&ignore, "ignore", "leave out paths matching this pattern (repeatable); recorded in ignore_paths")
	outPath := fs.String("out", "", "where to write the signature (OMS Sigstore bundle)")
	dir, err := parseOneArg(fs, args, "model directory")
	if err != nil {
		return err
	}
	if *outPath == "" {
		return &exitError{2, "sign model needs --out"}
	}
	// The signature written inside the directory is not part of it.
	if rel, err := filepath.Rel(dir, *outPath); err == nil && !strings.HasPrefix(rel, "..") {
		ignore = append(ignore, filepath.ToSlash(rel))
	}
	s, done, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	b, err := s.SignModel(ctx, dir, sign.ManifestOptions{Ignore: ignore})
	if err != nil {
		return err
	}
	return os.WriteFile(*outPath, b, 0o644)
}

func runSignFile(ctx context.Context, args []string, out io.Writer) error {
	fs, _ := newFlags("sign file", "FILE… --key KEY --cert CERT [--chain FILE] --tsa URL [--format bundle|cms]", out)
	var sf signerFlags
	sf.register(fs)
	format := fs.String("format", "bundle", "bundle: a Sigstore bundle FILE.sigstore.json (cosign verify-blob); cms: a CMS detached signature FILE.p7s (openssl cms)")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err.Error()}
	}
	// Flags may follow the files.
	var files []string
	rest := fs.Args()
	for len(rest) > 0 {
		files = append(files, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return &exitError{2, err.Error()}
		}
		rest = fs.Args()
	}
	if len(files) == 0 {
		return &exitError{2, "sign file needs at least one FILE"}
	}
	if *format != "bundle" && *format != "cms" {
		return &exitError{2, fmt.Sprintf("--format %q: use bundle or cms", *format)}
	}
	s, done, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	for _, f := range files {
		var sig []byte
		var path string
		if *format == "cms" {
			sig, err = s.SignCMS(ctx, f)
			path = f + ".p7s"
		} else {
			sig, err = s.SignBlob(ctx, f)
			path = f + ".sigstore.json"
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := os.WriteFile(path, sig, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(out, path)
	}
	return nil
}

func runVerifyModel(ctx context.Context, args []string, out io.Writer) error {
	return runVerify(ctx, "verify model", "DIR --signature model.sig --root root.pem --identity PATTERN", args, out)
}

func runVerifyFile(ctx context.Context, args []string, out io.Writer) error {
	return runVerify(ctx, "verify file", "FILE --signature F --root root.pem --identity PATTERN", args, out)
}

func runVerify(ctx context.Context, name, synopsis string, args []string, out io.Writer) error {
	fs, _ := newFlags(name, synopsis, out)
	sigPath := fs.String("signature", "", "the signature file")
	rootPath := fs.String("root", "", "the trust anchor (vccpki's root.pem)")
	identity := fs.String("identity", "", "path.Match pattern for the signer's subject CN or a URI SAN, e.g. clara-*")
	var rf registryFlags
	rf.register(fs)
	target, err := parseOneArg(fs, args, "target")
	if err != nil {
		return err
	}
	if *sigPath == "" || *rootPath == "" || *identity == "" {
		return &exitError{2, name + " needs --signature, --root and --identity"}
	}
	p, err := verify.NewPolicy(*rootPath, *identity)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	sig, err := os.ReadFile(*sigPath)
	if err != nil {
		return err
	}
	var res *verify.Result
	if name == "verify model" {
		res, err = p.VerifyModel(ctx, target, sig)
	} else {
		res, err = p.VerifyFile(ctx, target, sig)
	}
	if err != nil {
		if k, ok := verify.KindOf(err); ok {
			return &exitError{k.ExitCode(), "refused (" + k.String() + "): " + err.Error()}
		}
		return err
	}
	if err := rf.check(ctx, *rootPath, sig); err != nil {
		if k, ok := verify.KindOf(err); ok {
			return &exitError{k.ExitCode(), "refused (" + k.String() + "): " + err.Error()}
		}
		return err
	}
	fmt.Fprintf(out, "verified: %s signed by %q (serial %s), time-stamped %s by %q, %d file(s)\n",
		res.Format, res.Signer.Subject.CommonName, res.Signer.SerialNumber.Text(16), res.Time.UTC().Format("2006-01-02T15:04:05Z"), res.TSA.Subject.CommonName, res.Files)
	return nil
}
