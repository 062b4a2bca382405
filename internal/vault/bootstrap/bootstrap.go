// Package bootstrap configures a Vault server for the agent, once, with a
// sudo (root) token: the KV v2 mount, the agent's and the wallets'
// policies, the agent's AppRole and the token role that mints wallet
// tokens. Every step checks what is there first, so running it again
// changes nothing.
package bootstrap

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

//go:embed policies/prism-agent.hcl
var agentPolicyTemplate string

//go:embed policies/prism-wallet.hcl
var walletPolicyTemplate string

//go:embed policies/prism-tenant-login.hcl
var tenantLoginPolicyTemplate string

// Options say what to configure. Zero values take the defaults.
type Options struct {
	KVMount      string        // default "secret"
	AgentPolicy  string        // default "prism-agent"
	WalletPolicy string        // default "prism-wallet"
	AppRoleMount string        // default "approle"
	AppRole      string        // default "prism-agent"
	AgentTTL     time.Duration // agent token TTL, default 24h
	AgentMaxTTL  time.Duration // agent token max TTL, default 720h
	TokenRole    string        // default "prism-wallet"
	WalletTTL    time.Duration // wallet token TTL, default 1h
	// NewSecretID issues an AppRole secret id even when the role existed.
	NewSecretID bool
	// WrapTTL, when set, response-wraps the secret id.
	WrapTTL time.Duration

	// Tenant JWTs (Phase 3). Vault's identity OIDC provider issues them
	// unless an external issuer is given.
	OIDCKey        string        // default "prism-agent"
	OIDCRole       string        // default "prism-tenant"
	Audience       string        // default "prism-agent"
	TenantTokenTTL time.Duration // lifetime of a tenant JWT, default 15m
	JWTMount       string        // default "jwt"
	JWTRole        string        // default "prism-tenant"
	WalletClaim    string        // default "wallet_id"
	// ExternalIssuer with ExternalDiscoveryURL or ExternalJWKSURL makes
	// the JWT auth method trust another OIDC issuer instead of Vault.
	ExternalIssuer       string
	ExternalDiscoveryURL string
	ExternalJWKSURL      string
	TenantLoginPolicy    string // default "prism-tenant-login"
	TenantUserpass       string // mount of tenants' userpass logins, default "prism-tenants-userpass"
	TenantAppRole        string // mount of tenants' AppRole logins, default "prism-tenants-approle"
}

func (o *Options) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.KVMount, "secret")
	def(&o.AgentPolicy, "prism-agent")
	def(&o.WalletPolicy, "prism-wallet")
	def(&o.AppRoleMount, "approle")
	def(&o.AppRole, "prism-agent")
	def(&o.TokenRole, "prism-wallet")
	def(&o.OIDCKey, "prism-agent")
	def(&o.OIDCRole, "prism-tenant")
	def(&o.Audience, "prism-agent")
	def(&o.JWTMount, "jwt")
	def(&o.JWTRole, "prism-tenant")
	def(&o.WalletClaim, "wallet_id")
	def(&o.TenantLoginPolicy, "prism-tenant-login")
	def(&o.TenantUserpass, "prism-tenants-userpass")
	def(&o.TenantAppRole, "prism-tenants-approle")
	if o.TenantTokenTTL <= 0 {
		o.TenantTokenTTL = 15 * time.Minute
	}
	o.KVMount = strings.Trim(o.KVMount, "/")
	if o.AgentTTL <= 0 {
		o.AgentTTL = 24 * time.Hour
	}
	if o.AgentMaxTTL <= 0 {
		o.AgentMaxTTL = 720 * time.Hour
	}
	if o.WalletTTL <= 0 {
		o.WalletTTL = time.Hour
	}
}

// Result is what the agent needs, and what this run changed.
type Result struct {
	RoleID string
	// Issuer is the issuer of tenant JWTs (Vault's, unless external).
	Issuer string
	// SecretID is set when a secret id was issued; WrappingToken instead
	// when it was wrapped.
	SecretID      string
	WrappingToken string
	Changes       []string // human-readable, empty when nothing changed
	Options       Options
}

// AgentPolicy returns the agent policy for the given token role and
// tenant login mounts.
func AgentPolicy(tokenRole, tenantUserpass, tenantAppRole string) string {
	return strings.NewReplacer("{{TOKEN_ROLE}}", tokenRole, "{{TENANT_USERPASS}}", tenantUserpass,
		"{{TENANT_APPROLE}}", tenantAppRole).Replace(agentPolicyTemplate)
}

// TenantLoginPolicy returns the policy of tenants' login tokens.
func TenantLoginPolicy(oidcRole string) string {
	return strings.ReplaceAll(tenantLoginPolicyTemplate, "{{OIDC_ROLE}}", oidcRole)
}

// WalletPolicy returns the wallet policy for a KV v2 mount.
func WalletPolicy(kvMount string) string {
	return strings.ReplaceAll(walletPolicyTemplate, "{{KV_MOUNT}}", kvMount)
}

// Run configures Vault through c, which must carry a sudo token.
func Run(ctx context.Context, c *api.Client, o Options) (*Result, error) {
	o.defaults()
	r := &Result{Options: o}
	steps := []func(context.Context, *api.Client, Options, *Result) error{
		ensureKV, ensurePolicies, ensureAppRoleMount, ensureAgentRole, ensureTokenRole,
		ensureOIDC, ensureJWTAuth, ensureTenantLogins, issueSecretID,
	}
	for _, step := range steps {
		if err := step(ctx, c, o, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func ensureKV(ctx context.Context, c *api.Client, o Options, r *Result) error {
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return fmt.Errorf("listing secret engines: %w", err)
	}
	if m, ok := mounts[o.KVMount+"/"]; ok {
		if m.Type != "kv" || m.Options["version"] != "2" {
			return fmt.Errorf("mount %s/ exists but is not KV version 2 (type %s, version %q)",
				o.KVMount, m.Type, m.Options["version"])
		}
		return nil
	}
	err = c.Sys().MountWithContext(ctx, o.KVMount, &api.MountInput{
		Type: "kv", Options: map[string]string{"version": "2"}, Description: "PRISM Agent wallets",
	})
	if err != nil {
		return fmt.Errorf("enabling KV v2 at %s: %w", o.KVMount, err)
	}
	r.Changes = append(r.Changes, "enabled KV v2 secret engine at "+o.KVMount+"/")
	return nil
}

func ensurePolicies(ctx context.Context, c *api.Client, o Options, r *Result) error {
	for name, text := range map[string]string{
		o.AgentPolicy:       AgentPolicy(o.TokenRole, o.TenantUserpass, o.TenantAppRole),
		o.WalletPolicy:      WalletPolicy(o.KVMount),
		o.TenantLoginPolicy: TenantLoginPolicy(o.OIDCRole),
	} {
		current, err := c.Sys().GetPolicyWithContext(ctx, name)
		if err != nil {
			return fmt.Errorf("reading policy %s: %w", name, err)
		}
		if current == text {
			continue
		}
		if err := c.Sys().PutPolicyWithContext(ctx, name, text); err != nil {
			return fmt.Errorf("writing policy %s: %w", name, err)
		}
		r.Changes = append(r.Changes, "wrote policy "+name)
	}
	sort.Strings(r.Changes)
	return nil
}

func ensureAppRoleMount(ctx context.Context, c *api.Client, o Options, r *Result) error {
	return ensureAuthMount(ctx, c, o.AppRoleMount, "approle", r)
}

func ensureAuthMount(ctx context.Context, c *api.Client, mount, kind string, r *Result) error {
	auths, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("listing auth methods: %w", err)
	}
	if m, ok := auths[mount+"/"]; ok {
		if m.Type != kind {
			return fmt.Errorf("auth mount %s/ exists but is of type %s, not %s", mount, m.Type, kind)
		}
		return nil
	}
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, mount,
		&api.EnableAuthOptions{Type: kind}); err != nil {
		return fmt.Errorf("enabling %s auth at %s: %w", kind, mount, err)
	}
	r.Changes = append(r.Changes, "enabled "+kind+" auth at "+mount+"/")
	return nil
}

// ensureWritten writes params at path unless the values read back there
// already equal them; want maps a field as Vault returns it to the value
// written, normalised by norm.
func ensureWritten(ctx context.Context, c *api.Client, path string, params map[string]any,
	want map[string]any, r *Result, change string) (bool, error) {
	cur, err := c.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	if cur != nil && matches(cur.Data, want) {
		return false, nil
	}
	if _, err := c.Logical().WriteWithContext(ctx, path, params); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	r.Changes = append(r.Changes, change)
	return cur == nil, nil
}

// matches compares Vault's answer with the wanted values, which are
// given as Vault returns them (numbers as json.Number strings are
// compared by their text, lists as sorted strings).
func matches(have, want map[string]any) bool {
	for k, w := range want {
		if !reflect.DeepEqual(normalise(have[k]), normalise(w)) {
			return false
		}
	}
	return true
}

func normalise(v any) any {
	switch x := v.(type) {
	case nil:
		return []string{}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		sort.Strings(out)
		return out
	case []string:
		out := append([]string(nil), x...)
		sort.Strings(out)
		return out
	default:
		return fmt.Sprint(x)
	}
}

func ensureAgentRole(ctx context.Context, c *api.Client, o Options, r *Result) error {
	path := "auth/" + o.AppRoleMount + "/role/" + o.AppRole
	params := map[string]any{
		"token_policies": []string{o.AgentPolicy},
		"token_ttl":      int(o.AgentTTL.Seconds()),
		"token_max_ttl":  int(o.AgentMaxTTL.Seconds()),
		// The agent logs in again whenever its token cannot be renewed,
		// so its secret id must stay usable.
		"secret_id_ttl":      0,
		"secret_id_num_uses": 0,
		"bind_secret_id":     true,
	}
	want := map[string]any{
		"token_policies": []string{o.AgentPolicy}, "token_ttl": int(o.AgentTTL.Seconds()),
		"token_max_ttl": int(o.AgentMaxTTL.Seconds()), "secret_id_ttl": 0, "secret_id_num_uses": 0,
		"bind_secret_id": true,
	}
	created, err := ensureWritten(ctx, c, path, params, want, r, "wrote AppRole role "+o.AppRole)
	if err != nil {
		return err
	}
	id, err := c.Logical().ReadWithContext(ctx, path+"/role-id")
	if err != nil || id == nil {
		return fmt.Errorf("reading the role id of %s: %w", o.AppRole, orMissing(err))
	}
	r.RoleID, _ = id.Data["role_id"].(string)
	if created {
		r.Changes = append(r.Changes, "new role: a secret id is issued")
	}
	return nil
}

func orMissing(err error) error {
	if err != nil {
		return err
	}
	return errors.New("not found")
}

func ensureTokenRole(ctx context.Context, c *api.Client, o Options, r *Result) error {
	path := "auth/token/roles/" + o.TokenRole
	ttl := int(o.WalletTTL.Seconds())
	params := map[string]any{
		"allowed_policies":        []string{o.WalletPolicy},
		"disallowed_policies":     []string{"root", o.AgentPolicy},
		"allowed_entity_aliases":  []string{"prism-wallet-*"},
		"orphan":                  true,
		"renewable":               false,
		"token_explicit_max_ttl":  ttl,
		"token_no_default_policy": true,
		"token_type":              "service",
	}
	want := map[string]any{
		"allowed_policies": []string{o.WalletPolicy}, "disallowed_policies": []string{"root", o.AgentPolicy},
		"allowed_entity_aliases": []string{"prism-wallet-*"}, "orphan": true, "renewable": false,
		"token_explicit_max_ttl": ttl, "token_no_default_policy": true,
	}
	_, err := ensureWritten(ctx, c, path, params, want, r, "wrote token role "+o.TokenRole)
	return err
}

// issueSecretID issues the agent's secret id when its role was just
// created or when asked to; otherwise the agent keeps the one it has.
func issueSecretID(ctx context.Context, c *api.Client, o Options, r *Result) error {
	newRole := false
	for _, ch := range r.Changes {
		newRole = newRole || strings.HasPrefix(ch, "new role:")
	}
	if !newRole && !o.NewSecretID {
		return nil
	}
	cl := c
	if o.WrapTTL > 0 {
		var err error
		if cl, err = c.Clone(); err != nil {
			return fmt.Errorf("cloning client: %w", err)
		}
		cl.SetToken(c.Token())
		ttl := o.WrapTTL.String()
		cl.SetWrappingLookupFunc(func(string, string) string { return ttl })
	}
	s, err := cl.Logical().WriteWithContext(ctx, "auth/"+o.AppRoleMount+"/role/"+o.AppRole+"/secret-id", nil)
	if err != nil || s == nil {
		return fmt.Errorf("issuing a secret id: %w", orMissing(err))
	}
	if s.WrapInfo != nil {
		r.WrappingToken = s.WrapInfo.Token
	} else {
		r.SecretID, _ = s.Data["secret_id"].(string)
	}
	r.Changes = append(r.Changes, "issued a secret id for "+o.AppRole)
	return nil
}
