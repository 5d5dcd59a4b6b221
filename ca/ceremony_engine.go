package ca

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/store"
)

// offlineRoot is what a serving engine knows of an offline root: that it
// must not sign with it, and the last root CRL imported.
type offlineRoot struct {
	on  bool
	crl atomic.Pointer[CRL]
	// mu and lastLog rate-limit CheckRootCRL's log lines.
	mu      sync.Mutex
	lastLog time.Time
	lastLvl slog.Level
	logged  bool
}

// openOfflineRoot finds out whether the root's key is offline and, if
// so, reads the imported root CRL and registers its metric.
func (e *Engine) openOfflineRoot(ctx context.Context, reg prometheus.Registerer) error {
	rec, err := e.store.Key(ctx, e.root.keyID)
	if errors.Is(err, store.ErrNotFound) || err == nil && rec.Algorithm != OfflineKeyAlgorithm {
		return nil
	}
	if err != nil {
		return err
	}
	e.offline.on = true
	if reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vccpki_root_crl_next_update_seconds",
			Help: "Seconds until the nextUpdate of the offline root's CRL (negative: lapsed; -Inf: none imported). Sign and import a new one with vccpki ceremony sign-crl before it lapses.",
		}, func() float64 {
			c := e.offline.crl.Load()
			if c == nil {
				return math.Inf(-1)
			}
			return c.NextUpdate.Sub(e.cfg.Now()).Seconds()
		}))
	}
	return e.reloadRootCRL(ctx)
}

// RootOffline reports whether the root's key is offline.
func (e *Engine) RootOffline() bool { return e.offline.on }

// reloadRootCRL takes up a newer imported root CRL (vccpki ceremony
// import); Refresh calls it.
func (e *Engine) reloadRootCRL(ctx context.Context) error {
	if !e.offline.on {
		return nil
	}
	sc, err := e.store.LatestCRL(ctx, RootCA, 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur := e.offline.crl.Load(); cur == nil || cur.Number < sc.Number {
		e.offline.crl.Store(StoredCRL(RootCA, 0, sc.Number, sc.ThisUpdate, sc.NextUpdate, sc.Entries, sc.DER))
	}
	return nil
}

// offlineRootCRL is BuildCRL of an offline root: the last imported CRL.
func (e *Engine) offlineRootCRL() (*CRL, error) {
	if c := e.offline.crl.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no root CRL has been imported: the root is offline; run vccpki ceremony sign-crl on the root's host and vccpki ceremony import here")
}

// OfflineRootCRLNumber is the number of the root CRL to serve now, and
// false when the root is online (its CRL is built here).
func (e *Engine) OfflineRootCRLNumber() (int64, bool) {
	if !e.offline.on {
		return 0, false
	}
	if c := e.offline.crl.Load(); c != nil {
		return c.Number, true
	}
	return 0, true
}

// CheckRootCRL logs, for an offline root, a warning when less than margin
// is left before the imported root CRL's nextUpdate, and an error once it
// has lapsed (relying parties then fail every chain). A line is repeated
// at most hourly unless the level changes. It returns the time left
// (negative: lapsed) and false when the root is online or no CRL is
// imported.
func (e *Engine) CheckRootCRL(log *slog.Logger, margin time.Duration) (time.Duration, bool) {
	if !e.offline.on {
		return 0, false
	}
	now := e.cfg.Now()
	c := e.offline.crl.Load()
	var left time.Duration
	var lvl slog.Level
	var msg string
	switch {
	case c == nil:
		lvl, msg = slog.LevelError, "the offline root has no imported CRL: run vccpki ceremony sign-crl on the root's host and vccpki ceremony import"
	case !now.Before(c.NextUpdate):
		left = c.NextUpdate.Sub(now)
		lvl, msg = slog.LevelError, "the offline root's CRL has lapsed: relying parties that check it refuse every certificate; run vccpki ceremony sign-crl on the root's host and vccpki ceremony import"
	default:
		left = c.NextUpdate.Sub(now)
		if left >= margin {
			return left, true
		}
		lvl, msg = slog.LevelWarn, "the offline root's CRL lapses soon: run vccpki ceremony sign-crl on the root's host and vccpki ceremony import"
	}
	o := &e.offline
	o.mu.Lock()
	due := !o.logged || lvl != o.lastLvl || now.Sub(o.lastLog) >= time.Hour
	if due {
		o.logged, o.lastLvl, o.lastLog = true, lvl, now
	}
	o.mu.Unlock()
	if due {
		args := []any{"left", left.Round(time.Second).String()}
		if c != nil {
			args = append(args, "next_update", c.NextUpdate.UTC().Format(time.RFC3339), "crl_number", c.Number)
		}
		log.Log(context.Background(), lvl, msg, args...)
	}
	return left, c != nil
}

// ceremonyStore is the store a ceremony's engine reads (the serving data
// directory's exported state) with the root CRL number the root
// directory continues.
type ceremonyStore struct {
	store.Store
	number int64
}

func (s *ceremonyStore) NextCRLNumber(context.Context, string) (int64, error) { return s.number, nil }

// ceremonyEngine is an engine on the root's host over st (the serving
// side's exported state) whose one key is the offline root's.
func (h *RootHost) ceremonyEngine(ctx context.Context, st store.Store, cfg Config, number int64) (*Engine, error) {
	if err := h.checkSameRoot(ctx, st); err != nil {
		return nil, err
	}
	e, err := Open(ctx, &ceremonyStore{Store: st, number: number}, oneKey{h.file.KeyID, h.signer}, nil, cfg, Options{})
	if err != nil {
		return nil, err
	}
	e.offline.on = false // the key is here
	return e, nil
}

// SignRootCRL is ceremony sign-crl: the root's ARL (RFC 5280 §5; CA
// certificates only, §5.2.5 onlyContainsCACerts) built by BuildCRL from
// the CA records of st, the serving side's exported state, valid for
// validity. Its number continues both the root directory's and the last
// one imported on the serving side; the root directory records it.
func (h *RootHost) SignRootCRL(ctx context.Context, st store.Store, cfg Config, validity time.Duration) (*Artefact, error) {
	if validity <= 0 {
		return nil, errors.New("the root CRL needs a positive validity")
	}
	number := h.file.CRLNumber + 1
	if sc, err := st.LatestCRL(ctx, RootCA, 0); err == nil && sc.Number >= number {
		number = sc.Number + 1
	}
	cfg.CRLValidity = validity
	e, err := h.ceremonyEngine(ctx, st, cfg, number)
	if err != nil {
		return nil, err
	}
	c, err := e.BuildCRL(ctx, RootCA, 0)
	if err != nil {
		return nil, err
	}
	f := h.file
	f.CRLNumber = number
	if err := writeRootFile(h.dir, &f); err != nil {
		return nil, fmt.Errorf("recording the CRL number in the root directory: %w", err)
	}
	h.file = f
	return &Artefact{Format: ArtefactFormat, Kind: ArtefactRootCRL, RootSHA256: RootFingerprint(h.cert.Raw),
		Created: c.ThisUpdate, DER: c.Bytes()}, nil
}
