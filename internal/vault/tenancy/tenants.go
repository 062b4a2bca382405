package tenancy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/vault"
)

// Outcomes of tenant credential operations.
var (
	// ErrBadCredentials: Vault refused a tenant's login. Every cause
	// (unknown user, wrong password, disabled wallet) reads the same.
	ErrBadCredentials = errors.New("invalid client credentials")
	// ErrInvalidUsername: the username does not fit the allowed syntax.
	ErrInvalidUsername = errors.New("username must be 3 to 64 characters: lower-case letters, digits, '.', '_', '-'")
	// ErrCredentialExists: the wallet already has a login of that kind.
	ErrCredentialExists = errors.New("this login already exists")
)

var usernameSyntax = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

// tenantLoginTTL is the lifetime of the Vault token a tenant login gives:
// it is used once, to fetch the identity token, and then revoked.
const tenantLoginTTL = 5 * 60

// UserpassLogin is a person's login credentials for a wallet.
type UserpassLogin struct{ Username, Password string }

// AppRoleLogin is a machine client's login credentials for a wallet.
type AppRoleLogin struct{ ClientID, ClientSecret string }

// CreateUserpassLogin creates a userpass user bound to the wallet's
// entity, with a generated password that is returned once and stored
// nowhere but in Vault.
func (t *Tenancy) CreateUserpassLogin(ctx context.Context, walletID, username string) (UserpassLogin, error) {
	if !usernameSyntax.MatchString(username) {
		return UserpassLogin{}, ErrInvalidUsername
	}
	path := "auth/" + t.opts.TenantUserpass + "/users/" + username
	logical := t.vc.API().Logical()
	if cur, err := logical.ReadWithContext(ctx, path); err != nil {
		return UserpassLogin{}, vault.Classify(ctx, "reading tenant user", err)
	} else if cur != nil {
		return UserpassLogin{}, ErrCredentialExists
	}
	ent, err := t.entity(ctx, walletID)
	if err != nil {
		return UserpassLogin{}, err
	}
	accessor, err := t.accessor(ctx, t.opts.TenantUserpass)
	if err != nil {
		return UserpassLogin{}, err
	}
	if hasAliasOn(ent, accessor) {
		return UserpassLogin{}, ErrCredentialExists
	}
	password := randomSecret()
	_, err = logical.WriteWithContext(ctx, path, map[string]any{
		"password": password, "token_policies": []string{"prism-tenant-login"},
		"token_ttl": tenantLoginTTL, "token_max_ttl": tenantLoginTTL, "token_no_default_policy": true,
	})
	if err != nil {
		return UserpassLogin{}, vault.Classify(ctx, "writing tenant user", err)
	}
	if err := t.ensureAlias(ctx, ent, t.opts.TenantUserpass, username); err != nil {
		return UserpassLogin{}, err
	}
	t.log.Info("tenant userpass login created", "wallet_id", walletID)
	return UserpassLogin{Username: username, Password: password}, nil
}

// CreateAppRoleLogin creates (or reuses) the wallet's AppRole role and
// issues a new secret id: client id and client secret of the OAuth 2.0
// client-credentials grant. Each call issues another secret; old ones
// stay valid until destroyed in Vault.
func (t *Tenancy) CreateAppRoleLogin(ctx context.Context, walletID string) (AppRoleLogin, error) {
	ent, err := t.entity(ctx, walletID)
	if err != nil {
		return AppRoleLogin{}, err
	}
	logical := t.vc.API().Logical()
	role := "auth/" + t.opts.TenantAppRole + "/role/wallet-" + walletID
	_, err = logical.WriteWithContext(ctx, role, map[string]any{
		"token_policies": []string{"prism-tenant-login"}, "token_ttl": tenantLoginTTL,
		"token_max_ttl": tenantLoginTTL, "token_no_default_policy": true,
	})
	if err != nil {
		return AppRoleLogin{}, vault.Classify(ctx, "writing tenant AppRole", err)
	}
	id, err := logical.ReadWithContext(ctx, role+"/role-id")
	if err != nil || id == nil {
		return AppRoleLogin{}, vault.Classify(ctx, "reading tenant role id", orMissing(err))
	}
	roleID, _ := id.Data["role_id"].(string)
	if err := t.ensureAlias(ctx, ent, t.opts.TenantAppRole, roleID); err != nil {
		return AppRoleLogin{}, err
	}
	sid, err := logical.WriteWithContext(ctx, role+"/secret-id", nil)
	if err != nil || sid == nil {
		return AppRoleLogin{}, vault.Classify(ctx, "issuing tenant secret id", orMissing(err))
	}
	secretID, _ := sid.Data["secret_id"].(string)
	t.log.Info("tenant AppRole login issued", "wallet_id", walletID)
	return AppRoleLogin{ClientID: roleID, ClientSecret: secretID}, nil
}

func hasAliasOn(ent *api.Secret, accessor string) bool {
	aliases, _ := ent.Data["aliases"].([]any)
	for _, a := range aliases {
		if m, _ := a.(map[string]any); m["mount_accessor"] == accessor {
			return true
		}
	}
	return false
}

func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// IdentityToken is a tenant JWT issued by Vault.
type IdentityToken struct {
	JWT       string
	ExpiresIn int // seconds
}

// anonymous returns a client without a token, for logins.
func (t *Tenancy) anonymous() (*api.Client, error) {
	c, err := t.vc.API().Clone()
	if err != nil {
		return nil, fmt.Errorf("cloning Vault client: %w", err)
	}
	c.ClearToken()
	return c, nil
}

// ExchangePassword logs in with a tenant's userpass credentials and
// returns the tenant's identity token; the login token is revoked.
func (t *Tenancy) ExchangePassword(ctx context.Context, username, password string) (IdentityToken, error) {
	if !usernameSyntax.MatchString(username) || password == "" {
		return IdentityToken{}, ErrBadCredentials
	}
	return t.exchange(ctx, "auth/"+t.opts.TenantUserpass+"/login/"+username,
		map[string]any{"password": password})
}

// ExchangeClientCredentials logs in with a tenant's AppRole credentials.
func (t *Tenancy) ExchangeClientCredentials(ctx context.Context, clientID, clientSecret string) (IdentityToken, error) {
	if clientID == "" || clientSecret == "" || len(clientID) > 128 || len(clientSecret) > 128 {
		return IdentityToken{}, ErrBadCredentials
	}
	return t.exchange(ctx, "auth/"+t.opts.TenantAppRole+"/login",
		map[string]any{"role_id": clientID, "secret_id": clientSecret})
}

func (t *Tenancy) exchange(ctx context.Context, loginPath string, creds map[string]any) (IdentityToken, error) {
	c, err := t.anonymous()
	if err != nil {
		return IdentityToken{}, err
	}
	login, err := c.Logical().WriteWithContext(ctx, loginPath, creds)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 {
			return IdentityToken{}, ErrBadCredentials
		}
		return IdentityToken{}, vault.Classify(ctx, "tenant login", err)
	}
	if login == nil || login.Auth == nil || login.Auth.ClientToken == "" {
		return IdentityToken{}, ErrBadCredentials
	}
	c.SetToken(login.Auth.ClientToken)
	defer func() {
		// The login token has served its one purpose.
		if err := c.Auth().Token().RevokeSelfWithContext(context.WithoutCancel(ctx), ""); err != nil {
			t.log.Warn("revoking a tenant login token failed", "error", vault.Classify(ctx, "revoke", err).Error())
		}
	}()
	tok, err := c.Logical().ReadWithContext(ctx, "identity/oidc/token/"+t.opts.OIDCRole)
	if err != nil || tok == nil {
		var re *api.ResponseError
		if errors.As(err, &re) && (re.StatusCode == 400 || re.StatusCode == 403) {
			// A disabled entity or a login without a wallet entity.
			return IdentityToken{}, ErrBadCredentials
		}
		return IdentityToken{}, vault.Classify(ctx, "fetching identity token", orMissing(err))
	}
	jwt, _ := tok.Data["token"].(string)
	ttl, _ := tok.Data["ttl"].(json.Number)
	n, _ := ttl.Int64()
	if jwt == "" {
		return IdentityToken{}, fmt.Errorf("fetching identity token: %w: empty answer", secret.ErrUnavailable)
	}
	return IdentityToken{JWT: jwt, ExpiresIn: int(n)}, nil
}

// JWTSecrets returns the secret store of the wallet, authenticated with
// the Vault token that a login to the JWT auth method with the tenant's
// JWT gives. The token is cached per JWT until the earlier of the JWT's
// expiry and the token's own.
func (t *Tenancy) JWTSecrets(ctx context.Context, jwt string, jwtExpiry time.Time) (secret.Store, error) {
	sum := sha256.Sum256([]byte(jwt))
	key := string(sum[:])
	t.mu.Lock()
	c, ok := t.jwtTokens[key]
	t.mu.Unlock()
	if ok && time.Until(c.expires) > 5*time.Second {
		t.count(func(s *Stats) { s.Hits++ })
		return c.store, nil
	}
	t.count(func(s *Stats) { s.Misses++ })
	v, err, _ := t.group.Do("jwt:"+key, func() (any, error) {
		return t.jwtLogin(ctx, key, jwt, jwtExpiry)
	})
	if err != nil {
		return nil, err
	}
	return v.(secret.Store), nil
}

func (t *Tenancy) jwtLogin(ctx context.Context, key, jwt string, jwtExpiry time.Time) (secret.Store, error) {
	c, err := t.anonymous()
	if err != nil {
		return nil, err
	}
	login, err := c.Logical().WriteWithContext(ctx, "auth/"+t.opts.JWTMount+"/login",
		map[string]any{"role": t.opts.JWTRole, "jwt": jwt})
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 {
			return nil, fmt.Errorf("%w: Vault refused the tenant's JWT", ErrBadCredentials)
		}
		return nil, vault.Classify(ctx, "JWT login", err)
	}
	if login == nil || login.Auth == nil || login.Auth.ClientToken == "" {
		return nil, ErrBadCredentials
	}
	expires := time.Now().Add(time.Duration(login.Auth.LeaseDuration) * time.Second)
	if jwtExpiry.Before(expires) {
		expires = jwtExpiry
	}
	store := t.vc.KVWithToken(login.Auth.ClientToken)
	t.mu.Lock()
	// Expired entries are dropped here, so the cache stays bounded by the
	// JWTs in use.
	for k, e := range t.jwtTokens {
		if time.Now().After(e.expires) {
			delete(t.jwtTokens, k)
		}
	}
	t.jwtTokens[key] = cachedToken{store: store, expires: expires}
	t.mu.Unlock()
	t.count(func(s *Stats) { s.JWTLogins++ })
	return store, nil
}
