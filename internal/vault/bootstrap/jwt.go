package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"
)

// ensureOIDC sets up Vault's identity OIDC provider as the issuer of
// tenant JWTs: a signing key and a role whose template puts the entity's
// wallet id into the token, with the agent as audience.
func ensureOIDC(ctx context.Context, c *api.Client, o Options, r *Result) error {
	keyPath := "identity/oidc/key/" + o.OIDCKey
	_, err := ensureWritten(ctx, c, keyPath,
		map[string]any{"algorithm": "RS256", "allowed_client_ids": []string{o.Audience},
			"rotation_period": "24h", "verification_ttl": "24h"},
		map[string]any{"algorithm": "RS256", "allowed_client_ids": []string{o.Audience},
			"rotation_period": 86400, "verification_ttl": 86400},
		r, "wrote OIDC key "+o.OIDCKey)
	if err != nil {
		return err
	}
	template := fmt.Sprintf(`{"%s": {{identity.entity.metadata.wallet_id}}}`, o.WalletClaim)
	ttl := int(o.TenantTokenTTL.Seconds())
	_, err = ensureWritten(ctx, c, "identity/oidc/role/"+o.OIDCRole,
		map[string]any{"key": o.OIDCKey, "template": template, "ttl": ttl, "client_id": o.Audience},
		map[string]any{"key": o.OIDCKey, "template": template, "ttl": ttl, "client_id": o.Audience},
		r, "wrote OIDC role "+o.OIDCRole)
	if err != nil {
		return err
	}
	if o.ExternalIssuer != "" {
		r.Issuer = o.ExternalIssuer
		return nil
	}
	// The discovery document is plain JSON, not a Vault secret envelope.
	resp, err := c.Logical().ReadRawWithContext(ctx, "identity/oidc/.well-known/openid-configuration")
	if err != nil {
		return fmt.Errorf("reading Vault's OIDC discovery document: %w", err)
	}
	defer resp.Body.Close()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil || disc.Issuer == "" {
		return fmt.Errorf("reading Vault's OIDC discovery document: no issuer")
	}
	r.Issuer = disc.Issuer
	return nil
}

// ensureJWTAuth sets up the JWT auth method with which the Wallet logs in
// as the tenant: it trusts the tenant JWT issuer and maps the wallet claim
// to the wallet's entity alias, whose token gets the wallet policy.
func ensureJWTAuth(ctx context.Context, c *api.Client, o Options, r *Result) error {
	if err := ensureAuthMount(ctx, c, o.JWTMount, "jwt", r); err != nil {
		return err
	}
	cfg := map[string]any{"bound_issuer": r.Issuer}
	switch {
	case o.ExternalDiscoveryURL != "":
		cfg["oidc_discovery_url"] = o.ExternalDiscoveryURL
	case o.ExternalJWKSURL != "":
		cfg["jwks_url"] = o.ExternalJWKSURL
	default:
		cfg["jwks_url"] = strings.TrimSuffix(c.Address(), "/") + "/v1/identity/oidc/.well-known/keys"
	}
	_, err := ensureWritten(ctx, c, "auth/"+o.JWTMount+"/config", cfg, cfg, r,
		"configured JWT auth at "+o.JWTMount+"/")
	if err != nil {
		return err
	}
	ttl := int(o.TenantTokenTTL.Seconds())
	role := map[string]any{
		"role_type": "jwt", "bound_audiences": []string{o.Audience}, "user_claim": o.WalletClaim,
		"token_policies": []string{o.WalletPolicy}, "token_ttl": ttl, "token_max_ttl": ttl,
		"token_no_default_policy": true,
	}
	_, err = ensureWritten(ctx, c, "auth/"+o.JWTMount+"/role/"+o.JWTRole, role, role, r,
		"wrote JWT role "+o.JWTRole)
	return err
}

// ensureTenantLogins enables the auth methods of tenants' own Vault
// credentials: userpass for people, AppRole for machine clients.
func ensureTenantLogins(ctx context.Context, c *api.Client, o Options, r *Result) error {
	if err := ensureAuthMount(ctx, c, o.TenantUserpass, "userpass", r); err != nil {
		return err
	}
	return ensureAuthMount(ctx, c, o.TenantAppRole, "approle", r)
}
