package jwtauth_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/testenv"
)

// vaultOIDC is a Vault dev server whose identity OIDC provider issues
// tokens for one tenant entity carrying a wallet id.
type vaultOIDC struct {
	v      *testenv.Vault
	root   *api.Client
	tenant *api.Client // logged in as the tenant entity
	entity string      // entity id, the tokens' "sub"
}

const vaultWallet = "wallet-in-vault"

func startVaultOIDC(t *testing.T) *vaultOIDC {
	t.Helper()
	v := testenv.StartVaultDev(t)
	root := v.Client(t)
	write(t, root, "sys/policy/oidc-token", map[string]any{
		"policy": `path "identity/oidc/token/*" { capabilities = ["read"] }`,
	})
	if err := root.Sys().EnableAuthWithOptions("userpass",
		&api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatalf("enabling userpass: %v", err)
	}
	write(t, root, "auth/userpass/users/tenant", map[string]any{
		"password": "tenant-password", "token_policies": "oidc-token",
	})
	ent := write(t, root, "identity/entity", map[string]any{
		"name": "tenant", "metadata": map[string]string{"wallet_id": vaultWallet},
	})
	entityID, _ := ent.Data["id"].(string)
	auths, err := root.Sys().ListAuth()
	if err != nil {
		t.Fatalf("listing auth methods: %v", err)
	}
	write(t, root, "identity/entity-alias", map[string]any{
		"name": "tenant", "canonical_id": entityID, "mount_accessor": auths["userpass/"].Accessor,
	})

	login := write(t, root, "auth/userpass/login/tenant",
		map[string]any{"password": "tenant-password"})
	tenant, err := root.Clone()
	if err != nil {
		t.Fatalf("cloning client: %v", err)
	}
	tenant.SetToken(login.Auth.ClientToken)
	if login.Auth.EntityID != entityID {
		t.Fatalf("login entity %s, want %s", login.Auth.EntityID, entityID)
	}
	return &vaultOIDC{v: v, root: root, tenant: tenant, entity: entityID}
}

// addRole creates a signing key for alg and a role issuing tokens with
// audience clientID and the entity's wallet_id.
func (o *vaultOIDC) addRole(t *testing.T, name, alg, clientID string) {
	t.Helper()
	write(t, o.root, "identity/oidc/key/"+name, map[string]any{
		"algorithm": alg, "allowed_client_ids": "*",
		"rotation_period": "24h", "verification_ttl": "24h",
	})
	write(t, o.root, "identity/oidc/role/"+name, map[string]any{
		"key": name, "client_id": clientID, "ttl": "10m",
		"template": `{"wallet_id": {{identity.entity.metadata.wallet_id}}}`,
	})
}

// token reads an identity token of role as the tenant.
func (o *vaultOIDC) token(t *testing.T, role string) string {
	t.Helper()
	s, err := o.tenant.Logical().Read("identity/oidc/token/" + role)
	if err != nil || s == nil {
		t.Fatalf("reading identity token of %s: %v", role, err)
	}
	tok, _ := s.Data["token"].(string)
	if tok == "" {
		t.Fatalf("no token in identity token response of %s", role)
	}
	return tok
}

func write(t *testing.T, c *api.Client, path string, data map[string]any) *api.Secret {
	t.Helper()
	s, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	if s == nil {
		s = &api.Secret{}
	}
	return s
}

func TestVaultOIDC(t *testing.T) {
	o := startVaultOIDC(t)
	algs := []string{"RS256", "ES256", "EdDSA"}
	for _, alg := range algs {
		o.addRole(t, "agent-"+alg, alg, audience)
	}
	o.addRole(t, "other-app", "RS256", "some-other-app")

	clk := newClock()
	v, err := jwtauth.New(t.Context(), jwtauth.Config{
		Issuer:      o.v.Addr + "/v1/identity/oidc",
		Audiences:   []string{audience},
		WalletClaim: "wallet_id",
		HTTPClient:  &http.Client{Timeout: 10 * time.Second},
		Now:         clk.Now,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	for _, alg := range algs {
		t.Run("ok/"+alg, func(t *testing.T) {
			c, err := v.Verify(t.Context(), o.token(t, "agent-"+alg))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.WalletID != vaultWallet || c.Subject != o.entity ||
				c.Issuer != o.v.Addr+"/v1/identity/oidc" {
				t.Errorf("claims %+v", c)
			}
		})
	}

	t.Run("fail/audience/other-client-id", func(t *testing.T) {
		tok := o.token(t, "other-app")
		_, err := v.Verify(t.Context(), tok)
		wantReason(t, err, jwtauth.ReasonAudience, tok)
	})

	t.Run("fail/signature/tampered", func(t *testing.T) {
		tok := tamperSignature(t, o.token(t, "agent-RS256"))
		_, err := v.Verify(t.Context(), tok)
		wantReason(t, err, jwtauth.ReasonSignature, tok)
	})

	t.Run("ok/rotation", func(t *testing.T) {
		for _, alg := range algs {
			role := "agent-" + alg
			before := o.token(t, role)
			write(t, o.root, "identity/oidc/key/"+role+"/rotate", nil)
			after := o.token(t, role)
			if kid(t, before) == kid(t, after) {
				t.Fatalf("%s: rotation kept key id %s", alg, kid(t, before))
			}
			// Vault may publish its next key ahead of use; if it did not,
			// the unknown kid needs one refetch, allowed after the interval.
			clk.Advance(pastRefresh)
			for name, tok := range map[string]string{"after": after, "before": before} {
				c, err := v.Verify(t.Context(), tok)
				if err != nil || c.WalletID != vaultWallet {
					t.Errorf("%s: token minted %s rotation: %+v, %v", alg, name, c, err)
				}
			}
		}
	})
}

// kid returns the key id in a token's header, unverified.
func kid(t *testing.T, token string) string {
	t.Helper()
	tok, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{"RS256", "ES256", "EdDSA"})
	if err != nil {
		t.Fatalf("parsing token header: %v", err)
	}
	return tok.Signatures[0].Header.KeyID
}
