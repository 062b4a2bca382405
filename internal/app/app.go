// Package app wires the agent together from its configuration: the record
// store, the secret store, the default wallet and the HTTP API. The command
// and the end-to-end tests both build the agent through it.
package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/prism-agent/prism-agent/internal/config"
	"github.com/prism-agent/prism-agent/internal/httpapi"
	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/metrics"
	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/secret/embedded"
	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/store/postgres"
	"github.com/prism-agent/prism-agent/internal/store/sqlite"
	"github.com/prism-agent/prism-agent/internal/vault"
	"github.com/prism-agent/prism-agent/internal/vault/tenancy"
	"github.com/prism-agent/prism-agent/internal/wallet"
)

// Files the agent keeps in its data folder.
const (
	RecordsFile       = "agent.db"
	SecretsFile       = "secrets.db"
	MasterKeyFile     = "master.key"
	HashKeyFile       = "api-key-hash.key"
	AdminTokenFile    = "admin-token"
	DefaultAPIKeyFile = "default-wallet-apikey"
)

// App is a wired agent.
type App struct {
	Handler http.Handler
	// AdminTokenFile and DefaultAPIKeyFile name the files holding the
	// generated admin token and default wallet key; empty when the value
	// was configured instead.
	AdminTokenFile    string
	DefaultAPIKeyFile string

	Records store.Store
	Secrets secret.Store
	Wallets *wallet.Service
	Vault   *vault.Client
	// Metrics are the agent's Prometheus collectors, served by the API.
	Metrics *metrics.Metrics
	// Tenancy manages wallet identities and tokens in token-role mode.
	Tenancy *tenancy.Tenancy

	closers []io.Closer
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// New builds the agent. On error everything opened so far is closed.
func New(ctx context.Context, cfg config.Config, version string, logger *slog.Logger) (*App, error) {
	a := &App{Metrics: metrics.New()}
	if err := a.build(ctx, cfg, version, logger); err != nil {
		// Whatever was opened before the failure is closed again.
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context, cfg config.Config, version string, logger *slog.Logger) (err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data folder: %w", err)
	}

	if err := a.openRecords(ctx, cfg, logger); err != nil {
		return err
	}
	if err := a.openSecrets(ctx, cfg, logger); err != nil {
		return err
	}

	hashKey := cfg.APIKeyHashKey.Reveal()
	if hashKey == "" {
		if hashKey, _, err = loadOrCreateKeyFile(cfg.KeyFile(HashKeyFile)); err != nil {
			return err
		}
	}
	hasher, err := iam.NewHasher([]byte(hashKey))
	if err != nil {
		return fmt.Errorf("api key hash key: %w", err)
	}

	adminToken := cfg.AdminToken.Reveal()
	if adminToken == "" {
		a.AdminTokenFile = cfg.KeyFile(AdminTokenFile)
		if adminToken, _, err = loadOrCreateKeyFile(a.AdminTokenFile); err != nil {
			return err
		}
	}
	auth := iam.NewAuthenticator(hasher, a.Records, adminToken)
	var access wallet.SecretAccess = wallet.SharedAccess{Store: a.Secrets}
	var identities wallet.Identities
	if cfg.WalletVaultAuth == config.WalletAuthTokenRole || cfg.WalletVaultAuth == config.WalletAuthJWT {
		opts := tenancy.Options{TokenRole: cfg.Vault.TokenRole, Logger: logger,
			JWTRole: cfg.JWT.VaultRole, OIDCRole: cfg.JWT.OIDCRole,
			TenantUserpass: cfg.JWT.TenantUserpass, TenantAppRole: cfg.JWT.TenantAppRole}
		if cfg.JWT.Enabled() {
			opts.JWTMount = cfg.JWT.VaultMount
		}
		a.Tenancy = tenancy.New(a.Vault, opts)
		access, identities = a.Tenancy, a.Tenancy
		if cfg.WalletVaultAuth == config.WalletAuthJWT {
			access = jwtAccess{a.Tenancy}
		}
	}
	var bearer httpapi.BearerVerifier
	if cfg.JWT.Enabled() {
		v, err := jwtauth.New(ctx, jwtauth.Config{
			Issuer: cfg.JWT.Issuer, DiscoveryURL: cfg.JWT.DiscoveryURL, JWKSURL: cfg.JWT.JWKSURL,
			Audiences: []string{cfg.JWT.Audience}, WalletClaim: cfg.JWT.WalletClaim,
			Leeway: cfg.JWT.Leeway, RefreshMinInterval: cfg.JWT.RefreshMinInterval, Logger: logger,
		})
		if err != nil {
			return fmt.Errorf("bearer token verifier: %w", err)
		}
		bearer = v
	}
	a.Wallets = wallet.NewService(a.Records, access, identities, hasher, logger)

	ready := []httpapi.Check{
		{Name: "database", Run: func(ctx context.Context) error {
			if err := a.Records.Ping(ctx); err != nil {
				return errors.New("the database is unreachable")
			}
			return nil
		}},
		{Name: "secret-store", Run: func(ctx context.Context) error {
			if err := a.Secrets.Ping(ctx); err != nil {
				return errors.New("the secret store is unreachable or sealed")
			}
			return nil
		}},
	}
	if cfg.DefaultWalletEnabled {
		if err := a.ensureDefaultWallet(ctx, cfg, auth, hasher, logger); err != nil {
			return err
		}
		ready = append(ready, httpapi.Check{Name: "default-wallet", Run: func(ctx context.Context) error {
			if err := a.Wallets.CheckSeed(ctx, wallet.DefaultID); errors.Is(err, wallet.ErrSeedMissing) {
				return errors.New("the default wallet's seed is missing from the secret store")
			} else if err != nil {
				return errors.New("the default wallet's seed cannot be read")
			}
			return nil
		}})
	}

	a.Handler = httpapi.New(httpapi.Options{
		Version: version, PublicPrefix: cfg.PublicPrefix, MaxBodyBytes: cfg.MaxBodyBytes,
		Logger: logger, Auth: auth, Wallets: a.Wallets, Entities: iam.NewEntities(hasher, a.Records),
		Tenancy: a.Tenancy, Bearer: bearer, TrustedProxies: cfg.TrustedProxies,
		Ready: ready, Metrics: a.Metrics,
	})
	return nil
}

func (a *App) openRecords(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if u := cfg.DatabaseURL.Reveal(); u != "" {
		pg, err := postgres.Open(ctx, u, logger,
			postgres.WithMigrationURL(cfg.DatabaseMigrationURL.Reveal()),
			postgres.WithAppRole(cfg.DatabaseAppRole))
		if err != nil {
			return fmt.Errorf("opening PostgreSQL: %w", err)
		}
		a.Records = pg
	} else {
		lite, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, RecordsFile), logger)
		if err != nil {
			return fmt.Errorf("opening SQLite: %w", err)
		}
		a.Records = lite
	}
	a.closers = append(a.closers, a.Records)
	return nil
}

func (a *App) openSecrets(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	switch cfg.SecretBackend {
	case config.BackendVault:
		c, err := vault.New(ctx, vault.Config{
			Addr: cfg.Vault.Addr, Token: cfg.Vault.Token.Reveal(), AppRoleMount: cfg.Vault.AppRoleMount,
			RoleID: cfg.Vault.RoleID, SecretID: cfg.Vault.SecretID.Reveal(),
			WrappedSecretID: cfg.Vault.WrappedSecretID.Reveal(), KVMount: cfg.Vault.KVMount,
			SemanticPaths: cfg.Vault.SemanticPaths, RequestTimeout: cfg.Vault.RequestTimeout,
		}, logger)
		if err != nil {
			return fmt.Errorf("connecting to Vault: %w", err)
		}
		a.Vault = c
		a.closers = append(a.closers, closerFunc(func() error { c.Close(); return nil }))
		a.Secrets = a.Metrics.VaultStore(c.KV())
		if err := a.Metrics.WatchVaultToken(vaultTokenStats(c)); err != nil {
			return fmt.Errorf("vault token metrics: %w", err)
		}
	default:
		keyFile := cfg.MasterKeyFile
		if keyFile == "" {
			keyFile = cfg.KeyFile(MasterKeyFile)
		}
		key, err := embedded.LoadOrCreateMasterKey(keyFile)
		if err != nil {
			return err
		}
		st, err := embedded.Open(ctx, filepath.Join(cfg.DataDir, SecretsFile), key, logger)
		clear(key)
		if err != nil {
			return fmt.Errorf("opening the embedded secret store: %w", err)
		}
		a.Secrets = st
		a.closers = append(a.closers, st)
	}
	return nil
}

// ensureDefaultWallet creates the single-tenant wallet, its entity and its
// API key on first start, and never touches an existing wallet's seed.
func (a *App) ensureDefaultWallet(ctx context.Context, cfg config.Config, auth *iam.Authenticator,
	hasher *iam.Hasher, logger *slog.Logger) error {
	var seed []byte
	if s := cfg.DefaultWalletSeed.Reveal(); s != "" {
		var err error
		if seed, err = hex.DecodeString(s); err != nil {
			return errors.New("DEFAULT_WALLET_SEED is not hexadecimal")
		}
		defer clear(seed)
	}

	rec, err := a.Records.GetWallet(ctx, wallet.DefaultID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = a.Wallets.Create(ctx, wallet.CreateParams{
			ID: wallet.DefaultID, Name: "default", Seed: seed, ReuseStoredSeed: seed == nil,
		})
		if err != nil {
			return fmt.Errorf("creating the default wallet: %w", err)
		}
	case err != nil:
		return fmt.Errorf("reading the default wallet: %w", err)
	default:
		if seed != nil && string(hasher.Seed(seed)) != string(rec.SeedDigest) {
			logger.Warn("DEFAULT_WALLET_SEED differs from the default wallet's stored seed; " +
				"the stored seed is kept")
		}
		if err := a.Wallets.EnsureIdentity(ctx, wallet.DefaultID); err != nil {
			return err
		}
		// A missing seed is reported by readiness, not by a failed start:
		// the operator can then see the reason on /_system/ready.
		_ = a.Wallets.CheckSeed(ctx, wallet.DefaultID)
	}

	if _, err := a.Records.GetEntity(ctx, wallet.DefaultID); errors.Is(err, store.ErrNotFound) {
		err = a.Records.CreateEntity(ctx, store.Entity{ID: wallet.DefaultID, Name: "default",
			WalletID: wallet.DefaultID})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("creating the default entity: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("reading the default entity: %w", err)
	}

	apiKey := cfg.DefaultWalletAPIKey.Reveal()
	if apiKey == "" {
		a.DefaultAPIKeyFile = cfg.KeyFile(DefaultAPIKeyFile)
		if apiKey, _, err = loadOrCreateKeyFile(a.DefaultAPIKeyFile); err != nil {
			return err
		}
	}
	if err := auth.RegisterAPIKey(ctx, wallet.DefaultID, apiKey); err != nil {
		return fmt.Errorf("registering the default wallet's api key: %w", err)
	}
	return nil
}

// Close releases everything the App opened, newest first.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// jwtAccess reaches a wallet's secrets, in the jwt mode, with the Vault
// token that the tenant's own JWT gives; requests without a JWT (an API
// key tenant, the operator creating a wallet) use a wallet token.
type jwtAccess struct{ t *tenancy.Tenancy }

func (a jwtAccess) Secrets(ctx context.Context, walletID string) (secret.Store, error) {
	if b, ok := wallet.BearerFrom(ctx); ok {
		return a.t.JWTSecrets(ctx, b.Token, b.Expiry)
	}
	return a.t.Secrets(ctx, walletID)
}
