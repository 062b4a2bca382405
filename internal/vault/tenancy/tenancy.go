// Package tenancy gives every wallet its own Vault identity: an entity
// whose metadata carries the wallet id, an alias through which the agent
// mints tokens for it, and a cache of those wallet tokens. With it the
// Wallet reads its secrets with a token that Vault's templated wallet
// policy confines to the wallet's own subtree, so a routing bug in the
// agent cannot reach another tenant's secrets.
package tenancy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"

	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/vault"
)

// EntityPrefix starts the name of every wallet's entity and token alias;
// the wallet token role allows only aliases with this prefix.
const EntityPrefix = "prism-wallet-"

// Stats counts the wallet-token cache's outcomes since New.
type Stats struct {
	Hits, Misses, Mints uint64
	// JWTLogins counts logins to the JWT auth method with tenants' JWTs.
	JWTLogins uint64
}

// Options configure a Tenancy.
type Options struct {
	// TokenRole is the token role through which wallet tokens are minted.
	TokenRole string
	// RefreshBefore is how long before expiry a cached token is replaced,
	// so that no request starts with a token about to expire.
	RefreshBefore time.Duration
	Logger        *slog.Logger
	// OnCache, when set, is told of every cache hit (true) and miss.
	OnCache func(hit bool)

	// JWTMount, when set, is the JWT auth method through which tenants'
	// JWTs log in; each wallet entity gets an alias there named by its
	// wallet id (the mount's user claim).
	JWTMount string
	JWTRole  string // role of JWT logins, default "prism-tenant"
	// OIDCRole is the identity token role that issues tenant JWTs.
	OIDCRole string
	// TenantUserpass and TenantAppRole are the mounts of tenants' own
	// login credentials.
	TenantUserpass string
	TenantAppRole  string
}

// Tenancy manages wallet identities and wallet tokens in Vault.
type Tenancy struct {
	vc   *vault.Client
	opts Options
	log  *slog.Logger

	accessorMu sync.Mutex
	accessors  map[string]string // auth mount path -> accessor

	mu        sync.Mutex
	tokens    map[string]cachedToken // wallet id -> wallet token
	jwtTokens map[string]cachedToken // digest of a tenant JWT -> token from it
	group     singleflight.Group
	stats     struct {
		sync.Mutex
		Stats
	}
}

type cachedToken struct {
	store   secret.Store
	expires time.Time
}

// New returns a Tenancy that acts with the agent's Vault account.
func New(vc *vault.Client, opts Options) *Tenancy {
	if opts.TokenRole == "" {
		opts.TokenRole = "prism-wallet"
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&opts.JWTRole, "prism-tenant")
	def(&opts.OIDCRole, "prism-tenant")
	def(&opts.TenantUserpass, "prism-tenants-userpass")
	def(&opts.TenantAppRole, "prism-tenants-approle")
	return &Tenancy{vc: vc, opts: opts, log: opts.Logger.With("component", "vault-tenancy"),
		tokens: map[string]cachedToken{}, accessors: map[string]string{}, jwtTokens: map[string]cachedToken{}}
}

func entityName(walletID string) string { return EntityPrefix + walletID }

// accessor finds the accessor of an auth mount, to which aliases belong.
// It cannot change while the mount exists, so it is cached.
func (t *Tenancy) accessor(ctx context.Context, mount string) (string, error) {
	t.accessorMu.Lock()
	defer t.accessorMu.Unlock()
	if a, ok := t.accessors[mount]; ok {
		return a, nil
	}
	auths, err := t.vc.API().Sys().ListAuthWithContext(ctx)
	if err != nil {
		return "", vault.Classify(ctx, "listing auth methods", err)
	}
	m, ok := auths[mount+"/"]
	if !ok || m.Accessor == "" {
		return "", fmt.Errorf("%w: the auth method %s/ is not enabled; run prism-agent vault bootstrap",
			secret.ErrUnavailable, mount)
	}
	t.accessors[mount] = m.Accessor
	return m.Accessor, nil
}

// EnsureWallet creates (or repairs) the wallet's entity, with metadata
// wallet_id, and its alias on the token auth method. It is idempotent.
func (t *Tenancy) EnsureWallet(ctx context.Context, walletID string) error {
	logical := t.vc.API().Logical()
	name := entityName(walletID)
	// Writing by name creates the entity or updates it in place.
	_, err := logical.WriteWithContext(ctx, "identity/entity/name/"+name, map[string]any{
		"metadata": map[string]string{"wallet_id": walletID},
	})
	if err != nil {
		return vault.Classify(ctx, "writing wallet entity", err)
	}
	ent, err := t.entity(ctx, walletID)
	if err != nil {
		return err
	}
	if err := t.ensureAlias(ctx, ent, "token", name); err != nil {
		return err
	}
	if t.opts.JWTMount != "" {
		if err := t.ensureAlias(ctx, ent, t.opts.JWTMount, walletID); err != nil {
			return err
		}
	}
	return nil
}

// ensureAlias binds the entity to name on an auth mount unless it is.
func (t *Tenancy) ensureAlias(ctx context.Context, ent *api.Secret, mount, name string) error {
	accessor, err := t.accessor(ctx, mount)
	if err != nil {
		return err
	}
	if hasAlias(ent, accessor, name) {
		return nil
	}
	entityID, _ := ent.Data["id"].(string)
	_, err = t.vc.API().Logical().WriteWithContext(ctx, "identity/entity-alias", map[string]any{
		"name": name, "canonical_id": entityID, "mount_accessor": accessor,
	})
	if err != nil {
		return vault.Classify(ctx, "writing wallet entity alias", err)
	}
	t.log.Info("wallet identity alias created in Vault", "mount", mount)
	return nil
}

// entity reads a wallet's entity.
func (t *Tenancy) entity(ctx context.Context, walletID string) (*api.Secret, error) {
	ent, err := t.vc.API().Logical().ReadWithContext(ctx, "identity/entity/name/"+entityName(walletID))
	if err != nil || ent == nil {
		return nil, vault.Classify(ctx, "reading wallet entity", orMissing(err))
	}
	return ent, nil
}

func hasAlias(ent *api.Secret, accessor, name string) bool {
	aliases, _ := ent.Data["aliases"].([]any)
	for _, a := range aliases {
		m, _ := a.(map[string]any)
		if m["mount_accessor"] == accessor && m["name"] == name {
			return true
		}
	}
	return false
}

func orMissing(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: entity missing after write", secret.ErrNotFound)
}

// SetDisabled disables or enables the wallet's entity. Vault refuses every
// token of a disabled entity at once, cached wallet tokens included.
func (t *Tenancy) SetDisabled(ctx context.Context, walletID string, disabled bool) error {
	_, err := t.vc.API().Logical().WriteWithContext(ctx, "identity/entity/name/"+entityName(walletID),
		map[string]any{"disabled": disabled})
	if err != nil {
		return vault.Classify(ctx, "updating wallet entity", err)
	}
	t.forget(walletID)
	t.log.Info("wallet identity updated in Vault", "wallet_id", walletID, "disabled", disabled)
	return nil
}

// Secrets returns the secret store of one wallet, authenticated with a
// wallet token minted for the wallet's entity and cached until shortly
// before it expires. Concurrent first requests for a wallet share one mint.
func (t *Tenancy) Secrets(ctx context.Context, walletID string) (secret.Store, error) {
	if s, ok := t.cached(walletID); ok {
		t.count(func(s *Stats) { s.Hits++ })
		if t.opts.OnCache != nil {
			t.opts.OnCache(true)
		}
		return s, nil
	}
	t.count(func(s *Stats) { s.Misses++ })
	if t.opts.OnCache != nil {
		t.opts.OnCache(false)
	}
	v, err, _ := t.group.Do(walletID, func() (any, error) {
		if s, ok := t.cached(walletID); ok {
			return s, nil
		}
		return t.mint(ctx, walletID)
	})
	if err != nil {
		return nil, err
	}
	return v.(secret.Store), nil
}

func (t *Tenancy) cached(walletID string) (secret.Store, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.tokens[walletID]
	if !ok || time.Until(c.expires) < t.opts.RefreshBefore {
		return nil, false
	}
	return c.store, true
}

func (t *Tenancy) forget(walletID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.tokens, walletID)
}

// Forget drops a wallet's cached token, e.g. after Vault refused it.
func (t *Tenancy) Forget(walletID string) { t.forget(walletID) }

func (t *Tenancy) mint(ctx context.Context, walletID string) (secret.Store, error) {
	s, err := t.vc.API().Logical().WriteWithContext(ctx, "auth/token/create/"+t.opts.TokenRole,
		map[string]any{"entity_alias": entityName(walletID), "display_name": "wallet"})
	if err != nil {
		err = vault.Classify(ctx, "minting wallet token", err)
		return nil, err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, fmt.Errorf("minting wallet token: %w: no token in the answer", secret.ErrUnavailable)
	}
	if s.Auth.EntityID == "" {
		return nil, fmt.Errorf("minting wallet token: %w: the token is bound to no entity", secret.ErrForbidden)
	}
	ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
	store := t.vc.KVWithToken(s.Auth.ClientToken)
	t.mu.Lock()
	t.tokens[walletID] = cachedToken{store: store, expires: time.Now().Add(ttl)}
	t.mu.Unlock()
	t.count(func(s *Stats) { s.Mints++ })
	t.log.Debug("wallet token minted", "wallet_id", walletID, "ttl", ttl)
	return store, nil
}

func (t *Tenancy) count(f func(*Stats)) {
	t.stats.Lock()
	defer t.stats.Unlock()
	f(&t.stats.Stats)
}

// Stats returns the cache counters.
func (t *Tenancy) Stats() Stats {
	t.stats.Lock()
	defer t.stats.Unlock()
	return t.stats.Stats
}
