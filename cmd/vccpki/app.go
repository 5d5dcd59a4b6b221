package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/backend"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/internal/lease"
	"github.com/vcc/vccpki/internal/safefile"
	"github.com/vcc/vccpki/store"
)

// app is what every command works on: configuration, store, profiles and,
// for commands that sign, the engine with its keys.
type app struct {
	cfg      *config
	store    store.Store
	profiles *profile.Set
	log      *slog.Logger
	actor    string   // audit actor of an operator command
	closers  []func() // key backends to close with the app
	// offlineRoot, set by init --offline-root, keeps the new root's key
	// out of the serving key store (ceremony.go).
	offlineRoot *ca.OfflineRootInit
}

func openApp(ctx context.Context, cf *commonFlags) (*app, error) {
	cfg, err := loadConfig(cf.config)
	if err != nil {
		return nil, err
	}
	if cf.data != "" {
		cfg.data = cf.data
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Profiles may name any issuing CA the store holds (vccpki ca create).
	issuers, err := ca.IssuingCANames(ctx, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	profiles, err := profile.Load(cfg.profiles, issuers)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &app{cfg: cfg, store: st, profiles: profiles, log: newLogger(cfg.log), actor: operator()}, nil
}

func (a *app) Close() {
	for _, c := range a.closers {
		c()
	}
	_ = a.store.Close()
}

// operator names the person running an admin command, for the audit log:
// local:<user>, an act on the CA host's store directly (bootstrap,
// break-glass), told apart from API callers (oidc:..., mtls:...).
func operator() string {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	return "local:" + name
}

func newLogger(c logConfig) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// caConfig is the engine's configuration. Its public URL is the one stored
// with the CA (ca.AdoptPublicURL): a store without one adopts proposed,
// else the configuration's, else http:// + the HTTP listen address.
func (a *app) caConfig(ctx context.Context, proposed string) (ca.Config, error) {
	pub, err := ca.AdoptPublicURL(ctx, a.store, a.proposedPublicURL(proposed), a.actor)
	if err != nil {
		return ca.Config{}, fmt.Errorf("the public URL: %w", err)
	}
	return ca.Config{PublicURL: pub, Hierarchy: a.cfg.hierarchy, CRLValidity: a.cfg.crlValid, CRLShards: a.cfg.crlShards,
		Progress: func(step string) { a.log.Info("creating the CA hierarchy", "step", step) }}, nil
}

func (a *app) proposedPublicURL(proposed string) string {
	if proposed == "" {
		proposed = a.cfg.publicURL
	}
	if proposed == "" {
		proposed = "http://" + a.cfg.httpAddr
	}
	return proposed
}

// openCAKeys is openApp with caKeys; on success the caller closes the app.
func openCAKeys(ctx context.Context, cf *commonFlags) (*app, keys.Source, ca.Config, error) {
	a, err := openApp(ctx, cf)
	if err != nil {
		return nil, nil, ca.Config{}, err
	}
	src, cfg, err := a.caKeys(ctx)
	if err != nil {
		a.Close()
		return nil, nil, ca.Config{}, err
	}
	return a, src, cfg, nil
}

// caKeys opens the key store and the CA configuration, for the commands
// that change the hierarchy without an engine (ca create, rollover,
// request, add-admin-ca, ceremony import).
func (a *app) caKeys(ctx context.Context) (keys.Source, ca.Config, error) {
	kb, err := backend.Open(ctx, a.store, a.cfg.keys, backend.Options{Data: a.cfg.data, Log: a.log})
	if err != nil {
		return nil, ca.Config{}, err
	}
	a.closers = append(a.closers, kb.Close)
	cfg, err := a.caConfig(ctx, "")
	return kb.Source, cfg, err
}

// engine unlocks the key store and opens the CA engine. With bootstrap, an
// empty store first gets its hierarchy. Where the keys are is decided by
// ca/keys/backend.
func (a *app) engine(ctx context.Context, publicURL string, bootstrap bool, reg prometheus.Registerer) (*ca.Engine, bool, error) {
	e, _, created, err := a.engineWith(ctx, publicURL, bootstrap, reg, backend.Options{})
	return e, created, err
}

// engineWith is engine with init's choices for a new hierarchy; it also
// returns the key backend (shares to print).
func (a *app) engineWith(ctx context.Context, publicURL string, bootstrap bool, reg prometheus.Registerer, ko backend.Options) (*ca.Engine, *backend.Backend, bool, error) {
	ko.Bootstrap, ko.Data, ko.Log = bootstrap, a.cfg.data, a.log
	kb, err := backend.Open(ctx, a.store, a.cfg.keys, ko)
	if err != nil {
		return nil, nil, false, err
	}
	a.closers = append(a.closers, kb.Close)
	cfg, err := a.caConfig(ctx, publicURL)
	if err != nil {
		return nil, nil, false, err
	}
	var created bool
	if kb.Bootstrap {
		src := kb.Source
		if a.offlineRoot != nil {
			a.offlineRoot.Source, src = kb.Source, a.offlineRoot
		}
		if created, err = ca.Bootstrap(ctx, a.store, src, cfg, a.actor, kb.Extra...); err != nil {
			return nil, nil, false, fmt.Errorf("creating the CA hierarchy: %w", err)
		}
		if !created { // another process was first: use its key store
			return a.engineWith(ctx, publicURL, false, reg, backend.Options{})
		}
		// Now that the hierarchy exists, its public URL is stored.
		if cfg, err = a.caConfig(ctx, publicURL); err != nil {
			return nil, nil, false, err
		}
	}
	e, err := ca.Open(ctx, a.store, kb.Source, a.profiles, cfg, ca.Options{Registerer: reg})
	return e, kb, created, err
}

// keylessEngine opens the engine without keys, for commands that sign
// nothing (revocation, discovery, recipes).
func (a *app) keylessEngine(ctx context.Context) (*ca.Engine, error) {
	cfg, err := a.caConfig(ctx, "")
	if err != nil {
		return nil, err
	}
	return ca.Open(ctx, a.store, nil, a.profiles, cfg, ca.Options{})
}

// writeRoot writes the trust anchor to DATA/root.pem, atomically.
func (a *app) writeRoot(e *ca.Engine) (string, error) {
	path := filepath.Join(a.cfg.data, "root.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.Root().Raw})
	return path, safefile.Write(path, data, 0o644)
}

func (a *app) audit(ctx context.Context, action, object, result string) error {
	return a.store.AppendAudit(ctx, store.AuditEvent{Actor: a.actor, Action: action, Object: object, Result: result})
}

// runLeased runs fn while this process holds the named lease, so that work
// shared by every instance on one database runs at one of them.
func runLeased(ctx context.Context, a *app, name string, fn func(context.Context)) {
	a.leases().Run(ctx, name, fn)
}

func (a *app) leases() lease.Runner { return lease.Runner{Store: a.store, Log: a.log} }
