// Package config reads and validates the agent's configuration from
// environment variables (each also readable from <NAME>_FILE) and flags.
//
// Secrets (tokens, seeds, API keys, AppRole secret ids) are accepted from
// the environment or files only, never from flags, because command lines are
// visible to every user of the machine.
package config

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Secret storage backends.
const (
	BackendEmbedded = "embedded"
	BackendVault    = "vault"
)

// Ways the Wallet reaches Vault for wallet secrets.
const (
	WalletAuthAgent     = "agent"
	WalletAuthTokenRole = "token-role"
	WalletAuthJWT       = "jwt"
)

// MinKeyLength is the shortest accepted API key or admin token.
const MinKeyLength = 16

// MaxKeyLength is the longest accepted API key or admin token.
const MaxKeyLength = 128

// Config is the validated configuration of one agent process.
type Config struct {
	HTTPHost     string
	HTTPPort     int
	MaxBodyBytes int64
	// PublicPrefix is the path prefix under which a gateway exposes the
	// agent; links in responses are built with it.
	PublicPrefix string
	// TrustedProxies are the gateways whose X-Forwarded-For is believed
	// when the agent needs the client's address (token rate limits).
	TrustedProxies []netip.Prefix
	LogLevel       string
	LogFormat      string

	DataDir string

	SecretBackend string
	DatabaseURL   Secret // may carry a password
	// DatabaseMigrationURL is the connection of the role owning the
	// PostgreSQL tables, used only at start to migrate them and grant
	// DatabaseAppRole (default: the role of DatabaseURL) its privileges;
	// the agent's own role must not own them, so that row-level security
	// binds it.
	DatabaseMigrationURL Secret
	DatabaseAppRole      string
	MasterKeyFile        string
	// APIKeyHashKey keys the HMAC under which API keys and seed digests
	// are stored; agents sharing one database must share it.
	APIKeyHashKey Secret

	Vault VaultConfig

	WalletVaultAuth string

	// JWT configures bearer authentication of tenants; enabled in jwt
	// mode, or in any mode when JWT.Issuer is set.
	JWT JWTConfig

	DefaultWalletEnabled bool
	DefaultWalletSeed    Secret
	DefaultWalletAPIKey  Secret
	AdminToken           Secret
}

// JWTConfig is how tenants' bearer JWTs are verified and exchanged.
type JWTConfig struct {
	Issuer       string
	Audience     string
	WalletClaim  string
	DiscoveryURL string
	JWKSURL      string
	Leeway       time.Duration
	// RefreshMinInterval is the least time between two JWKS fetches.
	RefreshMinInterval time.Duration
	// Vault's side of the flow.
	VaultMount     string // JWT auth method
	VaultRole      string // its role
	OIDCRole       string // identity token role that issues tenant JWTs
	TenantUserpass string // mount of tenants' userpass logins
	TenantAppRole  string // mount of tenants' AppRole logins
}

// Enabled reports whether bearer authentication is configured.
func (j JWTConfig) Enabled() bool { return j.Issuer != "" }

// VaultConfig is how the agent reaches Vault.
type VaultConfig struct {
	Addr            string
	Token           Secret
	AppRoleMount    string
	RoleID          string
	SecretID        Secret
	WrappedSecretID Secret
	KVMount         string
	SemanticPaths   bool
	RequestTimeout  time.Duration
	// TokenRole is the token role that mints wallet tokens (token-role
	// mode).
	TokenRole string
}

// Getenv looks up one environment variable.
type Getenv func(name string) (string, bool)

// Load reads the configuration from args (without the program and
// subcommand names) and the environment, and validates it. Errors name the
// variable or flag at fault and never contain secret values.
func Load(args []string, getenv Getenv, stderr io.Writer) (Config, error) {
	src := source{getenv: getenv}
	c := Config{
		HTTPHost:             src.str("AGENT_HTTP_HOST", "127.0.0.1"),
		HTTPPort:             src.int("AGENT_HTTP_PORT", 8085),
		MaxBodyBytes:         int64(src.int("AGENT_HTTP_MAX_BODY_BYTES", 1<<20)),
		PublicPrefix:         src.str("AGENT_HTTP_PUBLIC_PREFIX", ""),
		LogLevel:             src.str("PRISM_LOG_LEVEL", "info"),
		LogFormat:            src.str("PRISM_LOG_FORMAT", "json"),
		DataDir:              src.str("PRISM_DATA_DIR", "./prism-data"),
		SecretBackend:        src.str("SECRET_STORAGE_BACKEND", BackendEmbedded),
		DatabaseURL:          Secret(src.str("DATABASE_URL", "")),
		DatabaseMigrationURL: Secret(src.str("DATABASE_MIGRATION_URL", "")),
		DatabaseAppRole:      src.str("DATABASE_APP_ROLE", ""),
		MasterKeyFile:        src.str("PRISM_MASTER_KEY_FILE", ""),
		APIKeyHashKey:        Secret(src.str("PRISM_API_KEY_HASH_KEY", "")),
		WalletVaultAuth:      src.str("PRISM_WALLET_VAULT_AUTH", WalletAuthAgent),
		DefaultWalletEnabled: src.bool("DEFAULT_WALLET_ENABLED", true),
		DefaultWalletSeed:    Secret(src.str("DEFAULT_WALLET_SEED", "")),
		DefaultWalletAPIKey:  Secret(src.str("DEFAULT_WALLET_AUTH_API_KEY", "")),
		AdminToken:           Secret(src.str("ADMIN_TOKEN", "")),
		Vault: VaultConfig{
			Addr:            src.str("VAULT_ADDR", ""),
			Token:           Secret(src.str("VAULT_TOKEN", "")),
			AppRoleMount:    src.str("VAULT_APPROLE_MOUNT", "approle"),
			RoleID:          src.str("VAULT_APPROLE_ROLE_ID", ""),
			SecretID:        Secret(src.str("VAULT_APPROLE_SECRET_ID", "")),
			WrappedSecretID: Secret(src.str("VAULT_APPROLE_SECRET_ID_WRAPPING_TOKEN", "")),
			KVMount:         src.str("VAULT_KV_MOUNT", "secret"),
			SemanticPaths:   src.bool("VAULT_USE_SEMANTIC_PATH", true),
			RequestTimeout:  src.duration("VAULT_REQUEST_TIMEOUT", 10*time.Second),
			TokenRole:       src.str("PRISM_VAULT_TOKEN_ROLE", "prism-wallet"),
		},
	}
	for _, f := range strings.Split(src.str("AGENT_HTTP_TRUSTED_PROXIES", ""), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(f)
		if err != nil {
			addr, aerr := netip.ParseAddr(f)
			if aerr != nil {
				src.errs = append(src.errs, fmt.Errorf("AGENT_HTTP_TRUSTED_PROXIES: %q is not an address or CIDR", f))
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx)
	}
	c.JWT = JWTConfig{
		Issuer:             src.str("PRISM_JWT_ISSUER", ""),
		Audience:           src.str("PRISM_JWT_AUDIENCE", "prism-agent"),
		WalletClaim:        src.str("PRISM_JWT_WALLET_CLAIM", "wallet_id"),
		DiscoveryURL:       src.str("PRISM_JWT_DISCOVERY_URL", ""),
		JWKSURL:            src.str("PRISM_JWT_JWKS_URL", ""),
		Leeway:             src.duration("PRISM_JWT_LEEWAY", 30*time.Second),
		RefreshMinInterval: src.duration("PRISM_JWT_JWKS_MIN_REFRESH", 30*time.Second),
		VaultMount:         src.str("PRISM_VAULT_JWT_MOUNT", "jwt"),
		VaultRole:          src.str("PRISM_VAULT_JWT_ROLE", "prism-tenant"),
		OIDCRole:           src.str("PRISM_VAULT_OIDC_ROLE", "prism-tenant"),
		TenantUserpass:     src.str("PRISM_VAULT_TENANT_USERPASS_MOUNT", "prism-tenants-userpass"),
		TenantAppRole:      src.str("PRISM_VAULT_TENANT_APPROLE_MOUNT", "prism-tenants-approle"),
	}
	if err := errors.Join(src.errs...); err != nil {
		return Config{}, err
	}

	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.HTTPHost, "http-host", c.HTTPHost, "address to listen on (AGENT_HTTP_HOST)")
	fs.IntVar(&c.HTTPPort, "http-port", c.HTTPPort, "port to listen on (AGENT_HTTP_PORT)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "folder of the embedded stores and generated keys (PRISM_DATA_DIR)")
	fs.StringVar(&c.SecretBackend, "secret-storage-backend", c.SecretBackend, "embedded or vault (SECRET_STORAGE_BACKEND)")
	fs.StringVar(&c.Vault.Addr, "vault-addr", c.Vault.Addr, "Vault address (VAULT_ADDR)")
	fs.StringVar(&c.Vault.KVMount, "vault-kv-mount", c.Vault.KVMount, "KV v2 mount (VAULT_KV_MOUNT)")
	fs.StringVar(&c.WalletVaultAuth, "wallet-vault-auth", c.WalletVaultAuth, "agent, token-role or jwt (PRISM_WALLET_VAULT_AUTH)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (PRISM_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text (PRISM_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// KeyFile returns the path of a generated key file in the data folder.
func (c Config) KeyFile(name string) string { return filepath.Join(c.DataDir, name) }

// ListenAddr is host:port.
func (c Config) ListenAddr() string {
	return net.JoinHostPort(c.HTTPHost, strconv.Itoa(c.HTTPPort))
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.HTTPPort < 0 || c.HTTPPort > 65535 {
		bad("AGENT_HTTP_PORT: %d is not a port number", c.HTTPPort)
	}
	if c.MaxBodyBytes < 1024 {
		bad("AGENT_HTTP_MAX_BODY_BYTES: must be at least 1024")
	}
	if c.PublicPrefix != "" {
		c.PublicPrefix = "/" + strings.Trim(c.PublicPrefix, "/")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("PRISM_LOG_LEVEL: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("PRISM_LOG_FORMAT: %q is not one of json, text", c.LogFormat)
	}
	if c.DataDir == "" {
		bad("PRISM_DATA_DIR: must not be empty")
	}
	if u := c.DatabaseURL.Reveal(); u != "" &&
		!strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		bad("DATABASE_URL: must be a postgres:// or postgresql:// URL")
	}
	if u := c.DatabaseMigrationURL.Reveal(); u != "" {
		if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			bad("DATABASE_MIGRATION_URL: must be a postgres:// or postgresql:// URL")
		}
		if !c.DatabaseURL.IsSet() {
			bad("DATABASE_MIGRATION_URL is set without DATABASE_URL; set both to use PostgreSQL")
		}
	}
	if c.DatabaseAppRole != "" && !c.DatabaseMigrationURL.IsSet() {
		bad("DATABASE_APP_ROLE is set without DATABASE_MIGRATION_URL, whose role grants it " +
			"the agent's privileges")
	}
	if k := c.APIKeyHashKey.Reveal(); k != "" && len(k) < 32 {
		bad("PRISM_API_KEY_HASH_KEY: must be at least 32 characters")
	}

	switch c.SecretBackend {
	case BackendEmbedded:
		if c.Vault.Addr != "" {
			bad("VAULT_ADDR is set but SECRET_STORAGE_BACKEND is %q; set it to %q to use Vault",
				BackendEmbedded, BackendVault)
		}
	case BackendVault:
		errs = append(errs, c.Vault.validate()...)
	default:
		bad("SECRET_STORAGE_BACKEND: %q is not one of %s, %s", c.SecretBackend, BackendEmbedded, BackendVault)
	}

	switch c.WalletVaultAuth {
	case WalletAuthAgent:
	case WalletAuthTokenRole, WalletAuthJWT:
		if c.SecretBackend != BackendVault {
			bad("PRISM_WALLET_VAULT_AUTH=%s needs SECRET_STORAGE_BACKEND=vault", c.WalletVaultAuth)
		}
		if c.WalletVaultAuth == WalletAuthJWT && c.JWT.Issuer == "" && c.Vault.Addr != "" {
			// Vault's identity OIDC provider is the default issuer.
			c.JWT.Issuer = strings.TrimSuffix(c.Vault.Addr, "/") + "/v1/identity/oidc"
		}
	default:
		bad("PRISM_WALLET_VAULT_AUTH: %q is not one of agent, token-role, jwt", c.WalletVaultAuth)
	}

	if c.JWT.Issuer != "" {
		if !strings.HasPrefix(c.JWT.Issuer, "http://") && !strings.HasPrefix(c.JWT.Issuer, "https://") {
			bad("PRISM_JWT_ISSUER: %q must be an http:// or https:// URL", c.JWT.Issuer)
		}
		if c.JWT.Audience == "" || c.JWT.WalletClaim == "" {
			bad("PRISM_JWT_AUDIENCE and PRISM_JWT_WALLET_CLAIM must not be empty")
		}
		if c.JWT.Leeway < 0 || c.JWT.Leeway > 5*time.Minute {
			bad("PRISM_JWT_LEEWAY: must be between 0s and 5m")
		}
	}
	if s := c.DefaultWalletSeed.Reveal(); s != "" {
		if b, err := hex.DecodeString(s); err != nil || len(b) != 64 {
			bad("DEFAULT_WALLET_SEED: must be exactly 128 hexadecimal characters (64 bytes)")
		}
	}
	for name, k := range map[string]Secret{
		"DEFAULT_WALLET_AUTH_API_KEY": c.DefaultWalletAPIKey,
		"ADMIN_TOKEN":                 c.AdminToken,
	} {
		if k.IsSet() {
			if err := ValidateKey(k.Reveal()); err != nil {
				bad("%s: %v", name, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (v *VaultConfig) validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if v.Addr == "" {
		bad("VAULT_ADDR: must be set when SECRET_STORAGE_BACKEND=vault")
	} else if !strings.HasPrefix(v.Addr, "http://") && !strings.HasPrefix(v.Addr, "https://") {
		bad("VAULT_ADDR: %q must start with http:// or https://", v.Addr)
	}
	approle := v.RoleID != "" || v.SecretID.IsSet() || v.WrappedSecretID.IsSet()
	switch {
	case v.Token.IsSet() && approle:
		bad("VAULT_TOKEN and VAULT_APPROLE_* are both set; give either a token or AppRole credentials")
	case !v.Token.IsSet() && !approle:
		bad("VAULT_ADDR is set without credentials; set VAULT_TOKEN or VAULT_APPROLE_ROLE_ID " +
			"with VAULT_APPROLE_SECRET_ID (or VAULT_APPROLE_SECRET_ID_WRAPPING_TOKEN)")
	case approle && v.RoleID == "":
		bad("VAULT_APPROLE_ROLE_ID: must be set with an AppRole secret id")
	case approle && v.SecretID.IsSet() && v.WrappedSecretID.IsSet():
		bad("VAULT_APPROLE_SECRET_ID and VAULT_APPROLE_SECRET_ID_WRAPPING_TOKEN are both set; give one")
	case approle && !v.SecretID.IsSet() && !v.WrappedSecretID.IsSet():
		bad("VAULT_APPROLE_ROLE_ID is set without VAULT_APPROLE_SECRET_ID or " +
			"VAULT_APPROLE_SECRET_ID_WRAPPING_TOKEN (or their _FILE forms)")
	}
	if v.KVMount == "" || strings.Contains(strings.Trim(v.KVMount, "/"), "..") {
		bad("VAULT_KV_MOUNT: %q is not a mount path", v.KVMount)
	}
	v.KVMount = strings.Trim(v.KVMount, "/")
	if v.RequestTimeout <= 0 {
		bad("VAULT_REQUEST_TIMEOUT: must be positive")
	}
	return errs
}

// ValidateKey checks the length and characters of an API key or admin
// token: 16 to 128 printable ASCII characters without spaces, so that it
// survives HTTP headers unchanged.
func ValidateKey(k string) error {
	if len(k) < MinKeyLength || len(k) > MaxKeyLength {
		return fmt.Errorf("must be %d to %d characters long", MinKeyLength, MaxKeyLength)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return errors.New("must contain only printable ASCII characters without spaces")
		}
	}
	return nil
}

// source reads variables, preferring NAME over NAME_FILE and refusing both.
type source struct {
	getenv Getenv
	errs   []error
}

func (s *source) lookup(name string) (string, bool) {
	v, ok := s.getenv(name)
	file, fileOK := s.getenv(name + "_FILE")
	switch {
	case ok && fileOK:
		s.errs = append(s.errs, fmt.Errorf("%s and %s_FILE are both set; give one", name, name))
		return "", false
	case fileOK:
		b, err := os.ReadFile(file)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s_FILE: cannot read %q: %w", name, file, unwrapPathError(err)))
			return "", false
		}
		return strings.TrimRight(string(b), "\r\n"), true
	default:
		return v, ok
	}
}

// unwrapPathError drops the path from an *os.PathError, which the caller
// already names.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *source) str(name, def string) string {
	if v, ok := s.lookup(name); ok {
		return strings.TrimSpace(v)
	}
	return def
}

func (s *source) int(name string, def int) int {
	v, ok := s.lookup(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %q is not an integer", name, v))
		return def
	}
	return n
}

func (s *source) bool(name string, def bool) bool {
	v, ok := s.lookup(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %q is not true or false", name, v))
		return def
	}
	return b
}

func (s *source) duration(name string, def time.Duration) time.Duration {
	v, ok := s.lookup(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %q is not a duration such as 10s", name, v))
		return def
	}
	return d
}
