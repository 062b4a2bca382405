// Package vault is the agent's HashiCorp Vault client: it authenticates the
// agent's Vault account (a static token or AppRole), keeps that token alive
// for as long as the agent runs, and implements secret.Store on a KV
// version 2 mount.
//
// The package knows Vault, not wallets: callers hand it secret.Paths and
// tokens, and it never decides which wallet a path or token belongs to.
package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAppRoleMount   = "approle"
	DefaultKVMount        = "secret"
	DefaultRequestTimeout = 10 * time.Second
)

// Config is how the agent reaches and authenticates to Vault. Exactly one
// of Token and RoleID (with SecretID or WrappedSecretID) must be set.
type Config struct {
	// Addr is Vault's address, "https://vault.example:8200".
	Addr string
	// Token is a static Vault token (Phase 1). It is used as is and renewed
	// when it is renewable; it cannot be replaced while the agent runs.
	Token string
	// AppRoleMount is the mount path of the AppRole auth method.
	AppRoleMount string
	// RoleID and SecretID are the agent's AppRole credentials (Phase 2).
	RoleID   string
	SecretID string
	// WrappedSecretID is a single-use response-wrapping token that wraps
	// the secret id; it is unwrapped once by New and the secret id is kept
	// in memory for later logins.
	WrappedSecretID string
	// KVMount is the mount path of the KV version 2 engine.
	KVMount string
	// SemanticPaths stores secrets at Dir/Name. When false, Name is
	// replaced by its SHA-256 hex and kept in the secret's custom metadata,
	// so that names never appear in Vault paths (and audit logs).
	SemanticPaths bool
	// RequestTimeout bounds each secret store operation and each
	// authentication request.
	RequestTimeout time.Duration
	// CACert is a PEM file of the CAs to trust for Vault's TLS certificate;
	// empty uses the system pool (and VAULT_CACERT, as the Vault CLI does).
	CACert string
}

const redacted = "[redacted]"

// String describes the configuration with its secrets masked.
func (c Config) String() string {
	return fmt.Sprintf("vault.Config{Addr:%s Token:%s AppRoleMount:%s RoleID:%s SecretID:%s "+
		"WrappedSecretID:%s KVMount:%s SemanticPaths:%t RequestTimeout:%s CACert:%s}",
		c.Addr, mask(c.Token), c.AppRoleMount, c.RoleID, mask(c.SecretID),
		mask(c.WrappedSecretID), c.KVMount, c.SemanticPaths, c.RequestTimeout, c.CACert)
}

// GoString masks secrets in %#v as well.
func (c Config) GoString() string { return c.String() }

// LogValue masks secrets in slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("token", mask(c.Token)),
		slog.String("approle_mount", c.AppRoleMount),
		slog.String("role_id", c.RoleID),
		slog.String("secret_id", mask(c.SecretID)),
		slog.String("wrapped_secret_id", mask(c.WrappedSecretID)),
		slog.String("kv_mount", c.KVMount),
		slog.Bool("semantic_paths", c.SemanticPaths),
		slog.Duration("request_timeout", c.RequestTimeout),
	)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

func (c *Config) setDefaults() {
	if c.AppRoleMount == "" {
		c.AppRoleMount = DefaultAppRoleMount
	}
	if c.KVMount == "" {
		c.KVMount = DefaultKVMount
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	c.AppRoleMount = strings.Trim(c.AppRoleMount, "/")
	c.KVMount = strings.Trim(c.KVMount, "/")
}

func (c *Config) validate() error {
	approle := c.RoleID != "" || c.SecretID != "" || c.WrappedSecretID != ""
	switch {
	case c.Addr == "":
		return errors.New("vault address is empty")
	case c.Token != "" && approle:
		return errors.New("both a vault token and AppRole credentials are given; give one")
	case c.Token == "" && !approle:
		return errors.New("no vault credentials: give a token or AppRole credentials")
	case approle && c.RoleID == "":
		return errors.New("AppRole role id is empty")
	case approle && c.SecretID != "" && c.WrappedSecretID != "":
		return errors.New("both an AppRole secret id and a wrapped secret id are given; give one")
	case approle && c.SecretID == "" && c.WrappedSecretID == "":
		return errors.New("AppRole secret id is empty")
	case c.KVMount == "" || strings.Contains(c.KVMount, "//"):
		return errors.New("KV mount path is invalid")
	case c.RequestTimeout < 0:
		return errors.New("request timeout is negative")
	}
	return nil
}

// Stats counts the lifecycle events of the agent's Vault token since New.
type Stats struct {
	// Logins counts successful AppRole logins, the first one included.
	Logins uint64
	// Relogins counts successful logins after the first.
	Relogins uint64
	// Renewals counts successful token renewals.
	Renewals uint64
	// LoginFailures and RenewalFailures count failed attempts (each retry
	// counts).
	LoginFailures   uint64
	RenewalFailures uint64
	// TokenRetries counts requests that Vault refused because the token was
	// no longer valid and that were sent again after a new login.
	TokenRetries uint64
}

type counters struct {
	logins, relogins, renewals, loginFailures, renewalFailures, tokenRetries atomic.Uint64
}

// tokenState is one token of the agent's Vault account. It is immutable;
// a renewal or login replaces it.
type tokenState struct {
	client    *api.Client // carries the token
	gen       uint64      // increases with each new token (not renewals)
	renewable bool
	ttl       time.Duration // granted at login or last renewal; 0: never expires
	increment time.Duration // renewal increment: the TTL granted at login
	granted   time.Time     // local time just before the request that granted ttl
	capped    bool          // the last renewal hit the token's max TTL
}

func (s *tokenState) expires() time.Time {
	if s.ttl == 0 {
		return time.Time{}
	}
	return s.granted.Add(s.ttl)
}

// expired reports whether the token is past its TTL by the local clock.
func (s *tokenState) expired() bool {
	return s.ttl != 0 && time.Now().After(s.expires())
}

// Client is an authenticated Vault client for the agent's own account. Its
// methods are safe for concurrent use.
type Client struct {
	cfg   Config
	log   *slog.Logger
	base  *api.Client // returned by API; its token follows every new login
	login *appRole    // nil with a static token

	state    atomic.Pointer[tokenState]
	loginSem chan struct{} // one login at a time
	wake     chan struct{} // tells the maintainer that the token changed
	stats    counters

	stop      chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
}

// New authenticates to Vault and starts keeping the token alive in the
// background until Close. While Vault cannot be reached, New retries with
// backoff until ctx is done; credentials that Vault refuses (or a wrapping
// token that is invalid or already used) fail at once.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("vault config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base, err := newAPIClient(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		log:      logger.With(slog.String("component", "vault")),
		base:     base,
		loginSem: make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := c.authenticate(ctx); err != nil {
		return nil, err
	}
	go c.maintain()
	return c, nil
}

func newAPIClient(cfg Config) (*api.Client, error) {
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("vault client config: %w", ac.Error)
	}
	ac.Address = cfg.Addr
	ac.Timeout = cfg.RequestTimeout
	// One quick HTTP-level retry rides out a dropped connection; anything
	// longer is an outage, which callers should learn about within a
	// fraction of a second (the API answers 503 with Retry-After). The
	// token lifecycle has its own unbounded backoff.
	ac.MinRetryWait = 50 * time.Millisecond
	ac.MaxRetryWait = 150 * time.Millisecond
	ac.MaxRetries = 1
	if cfg.CACert != "" {
		if err := ac.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert}); err != nil {
			return nil, fmt.Errorf("vault TLS config: %w", err)
		}
	}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	// VAULT_TOKEN and VAULT_WRAP_TTL from the environment must not leak in:
	// the configuration decides the token, and responses are never wrapped.
	c.ClearToken()
	c.SetWrappingLookupFunc(noWrapping)
	return c, nil
}

func noWrapping(string, string) string { return "" }

// withToken returns a client sharing c's transport and settings that sends
// token.
func withToken(base *api.Client, token string) (*api.Client, error) {
	cl, err := base.Clone()
	if err != nil {
		return nil, fmt.Errorf("cloning vault client: %w", err)
	}
	cl.SetWrappingLookupFunc(noWrapping)
	cl.SetToken(token)
	return cl, nil
}

// Close stops the token's maintenance. An AppRole token is revoked, since
// no one can use it any more; a static token is left alone.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.stop)
		<-c.done
		if c.login == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
		defer cancel()
		if err := c.current().client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
			c.log.Warn("vault token revocation failed", slog.String("error", safeError(err)))
			return
		}
		c.log.Info("vault token revoked")
	})
}

// API returns the Vault API client authenticated as the agent's account,
// for calls this package does not wrap (entities, token roles). Its token
// is replaced on every new login, so do not copy the token out of it; Clone
// it to send another token.
func (c *Client) API() *api.Client { return c.base }

// KV returns the secret store on the KV mount, authenticated as the
// agent's account.
func (c *Client) KV() secret.Store {
	return &kvStore{c: c, mount: c.cfg.KVMount, semantic: c.cfg.SemanticPaths}
}

// KVWithToken returns the secret store on the KV mount authenticated with
// token (a wallet token). It shares the Client's connections; the token is
// never renewed or replaced, and when Vault rejects it as invalid or
// expired the store's errors match ErrInvalidToken.
func (c *Client) KVWithToken(token string) secret.Store {
	s := &kvStore{c: c, mount: c.cfg.KVMount, semantic: c.cfg.SemanticPaths}
	// Cloning only fails when the environment's Vault settings are broken,
	// which New has already ruled out; the store reports it if it happens.
	s.fixed, s.fixedErr = withToken(c.base, token)
	return s
}

// Stats returns the token lifecycle counters.
func (c *Client) Stats() Stats {
	return Stats{
		Logins:          c.stats.logins.Load(),
		Relogins:        c.stats.relogins.Load(),
		Renewals:        c.stats.renewals.Load(),
		LoginFailures:   c.stats.loginFailures.Load(),
		RenewalFailures: c.stats.renewalFailures.Load(),
		TokenRetries:    c.stats.tokenRetries.Load(),
	}
}

func (c *Client) current() *tokenState { return c.state.Load() }

// setState installs a new token state if the current one is still old, and
// wakes the maintainer so it plans from the new token.
func (c *Client) setState(old, next *tokenState) bool {
	if !c.state.CompareAndSwap(old, next) {
		return false
	}
	if old == nil || old.client != next.client {
		c.base.SetToken(next.client.Token())
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}
