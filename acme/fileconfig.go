package acme

import (
	"time"

	"github.com/vcc/vccpki/internal/conf"
)

// FileConfig is the configuration file's "acme" section.
type FileConfig struct {
	// ExternalURL is the base of the URLs in the directory, Location and
	// Link headers; empty: the scheme and Host each client used.
	ExternalURL             string        `yaml:"external_url"`
	ExternalAccountRequired bool          `yaml:"external_account_required"`
	TermsOfService          string        `yaml:"terms_of_service"`
	Website                 string        `yaml:"website"`
	CAAIdentities           []string      `yaml:"caa_identities"`
	OrdersPerHour           int           `yaml:"orders_per_hour"`
	MaxPendingAuthzs        int           `yaml:"max_pending_authzs"`
	MaxBodyBytes            int64         `yaml:"max_body_bytes"`
	ChallengeWait           conf.Duration `yaml:"challenge_wait"`
	// Per client address (token buckets; issue 13.7): new accounts and
	// new orders. Zero fields take DefaultAccountsPerAddress and
	// DefaultOrdersPerAddress.
	AccountsPerAddress       LimitConfig `yaml:"accounts_per_address"`
	OrdersPerAddress         LimitConfig `yaml:"orders_per_address"`
	MaxValidationsPerAccount int         `yaml:"max_validations_per_account"`
	// PruneRetention: how long expired orders and authorizations stay
	// before the (leased) pruning deletes them.
	PruneRetention conf.Duration `yaml:"prune_retention"`
}

// LimitConfig is a token bucket: burst requests at once, then one every.
type LimitConfig struct {
	Burst int           `yaml:"burst"`
	Every conf.Duration `yaml:"every"`
}

// Limit is the bucket the section describes.
func (l LimitConfig) Limit() Limit {
	return Limit{Burst: l.Burst, Every: time.Duration(l.Every)}
}

// Config is the server's configuration from the section; the caller adds
// what is not in the file (secrets, validator, log).
func (f FileConfig) Config() Config {
	return Config{
		ExternalURL: f.ExternalURL, ExternalAccountRequired: f.ExternalAccountRequired,
		TermsOfService: f.TermsOfService, Website: f.Website, CAAIdentities: f.CAAIdentities,
		OrdersPerHour: f.OrdersPerHour, MaxPendingAuthzs: f.MaxPendingAuthzs, MaxBodyBytes: f.MaxBodyBytes,
		ChallengeWait:      time.Duration(f.ChallengeWait),
		AccountsPerAddress: f.AccountsPerAddress.Limit(), OrdersPerAddress: f.OrdersPerAddress.Limit(),
		MaxValidationsPerAccount: f.MaxValidationsPerAccount, PruneRetention: time.Duration(f.PruneRetention),
	}
}
