package app

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/jwtauth/jwttest"
	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault/bootstrap"
)

// bearer returns the agent acting as a tenant with a JWT.
func (a *agent) bearer(t *testing.T, jwt string) *agent {
	b := a.on(t)
	b.apiKey, b.adminToken, b.jwt = "", "", jwt
	return b
}

// token calls POST /oauth2/token with a form body.
func (a *agent) token(form url.Values) response {
	a.t.Helper()
	resp, err := http.Post(a.srv.URL+"/oauth2/token", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// forgeHS256 signs claims with HS256 keyed by the PEM form of an RSA
// public key: the algorithm-confusion attack.
func forgeHS256(pub *rsa.PublicKey, kid string, claims map[string]any) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	key := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	header, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid})
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// vaultSigningKey reads the RSA public key of Vault's OIDC JWKS.
func vaultSigningKey(t *testing.T, v *testenv.Vault) (*rsa.PublicKey, string) {
	resp, err := http.Get(v.Addr + "/v1/identity/oidc/.well-known/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct{ Kid, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil || len(jwks.Keys) == 0 {
		t.Fatalf("JWKS: %v", err)
	}
	k := jwks.Keys[0]
	n, _ := base64.RawURLEncoding.DecodeString(k.N)
	e, _ := base64.RawURLEncoding.DecodeString(k.E)
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, k.Kid
}

func payloadOf(t *testing.T, jwt string) map[string]any {
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func replacePayload(jwt string, claims map[string]any) string {
	parts := strings.Split(jwt, ".")
	p, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
}

// TestPhase3VaultIssuer runs the whole Phase 3 flow for two tenants:
// Vault credentials, a Vault-issued JWT, a DID, a signature and a secret,
// with the Wallet logging into Vault as the tenant.
func TestPhase3VaultIssuer(t *testing.T) {
	v := testenv.StartVaultDev(t)
	boot, err := bootstrap.Run(t.Context(), v.Client(t), bootstrap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, map[string]string{
		"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr, "DATABASE_URL": testenv.PostgresURL(t),
		"PRISM_WALLET_VAULT_AUTH": "jwt",
		"VAULT_APPROLE_ROLE_ID":   boot.RoleID, "VAULT_APPROLE_SECRET_ID": boot.SecretID,
	})
	adm := a.admin(t)
	walletA := adm.expect(adm.do("POST", "/wallets", map[string]any{"name": "alice"}), 201).body["id"].(string)
	walletB := adm.expect(adm.do("POST", "/wallets", map[string]any{"name": "bob"}), 201).body["id"].(string)

	alice := adm.expect(adm.do("POST", "/wallets/"+walletA+"/vault-credentials",
		map[string]any{"type": "userpass", "username": "alice"}), 201)
	bob := adm.expect(adm.do("POST", "/wallets/"+walletB+"/vault-credentials",
		map[string]any{"type": "approle"}), 201)
	adm.expect(adm.do("POST", "/wallets/"+walletA+"/vault-credentials",
		map[string]any{"type": "userpass", "username": "alice2"}), 409)
	adm.expect(adm.do("POST", "/wallets/"+walletA+"/vault-credentials",
		map[string]any{"type": "userpass", "username": "Bad Name"}), 422)

	ta := a.token(url.Values{"grant_type": {"password"}, "username": {"alice"},
		"password": {alice.body["password"].(string)}})
	tb := a.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {bob.body["clientId"].(string)},
		"client_secret": {bob.body["clientSecret"].(string)}})
	if ta.status != 200 || tb.status != 200 || ta.body["token_type"] != "Bearer" ||
		ta.body["expires_in"].(float64) <= 0 {
		t.Fatalf("token exchange: %s / %s", ta.raw, tb.raw)
	}
	jwtA, jwtB := ta.body["access_token"].(string), tb.body["access_token"].(string)
	if payloadOf(t, jwtA)["wallet_id"] != walletA {
		t.Fatalf("alice's JWT names wallet %v", payloadOf(t, jwtA)["wallet_id"])
	}

	t.Run("bad credentials", func(t *testing.T) {
		a := a.on(t)
		wrong := a.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"nope"}})
		unknown := a.token(url.Values{"grant_type": {"password"}, "username": {"mallory"}, "password": {"x"}})
		badClient := a.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"},
			"client_secret": {"y"}})
		for _, r := range []response{wrong, unknown, badClient} {
			if r.status != 401 || r.body["detail"] != wrong.body["detail"] || r.body["error"] != "invalid_client" {
				t.Fatalf("bad credentials answered %d %s", r.status, r.raw)
			}
		}
		if r := a.token(url.Values{"grant_type": {"implicit"}}); r.status != 400 {
			t.Fatalf("unknown grant: %d", r.status)
		}
	})

	// The whole flow, for both tenants.
	for _, c := range []struct {
		name, jwt, value string
	}{{"alice", jwtA, "alice-secret"}, {"bob", jwtB, "bob-secret"}} {
		tenant := a.bearer(t, c.jwt)
		long := tenant.expect(tenant.do("POST", "/did-registrar/dids", didTemplate), 201).body["longFormDid"].(string)
		tenant.expect(tenant.do("POST", "/did-registrar/dids/"+long+"/signatures",
			map[string]any{"keyId": "auth-1", "payload": "aGk"}), 200)
		tenant.expect(tenant.do("PUT", "/secrets/shared-name", map[string]any{"value": c.value}), 201)
		if r := tenant.expect(tenant.do("GET", "/secrets/shared-name", nil), 200); r.body["value"] != c.value {
			t.Fatalf("%s reads %s", c.name, r.raw)
		}
	}
	logins := a.app.Tenancy.Stats().JWTLogins
	if logins == 0 {
		t.Fatal("no Vault JWT login happened")
	}
	a.bearer(t, jwtA).expect(a.bearer(t, jwtA).do("GET", "/secrets/shared-name", nil), 200)
	if a.app.Tenancy.Stats().JWTLogins != logins {
		t.Fatal("a cached JWT logged into Vault again")
	}

	t.Run("A's JWT never reaches B's data", func(t *testing.T) {
		b := a.bearer(t, jwtB)
		longB := b.expect(b.do("GET", "/did-registrar/dids", nil), 200).body["contents"].([]any)[0].(map[string]any)["longFormDid"].(string)
		alice := a.bearer(t, jwtA)
		alice.expect(alice.do("GET", "/did-registrar/dids/"+longB, nil), 404)
		alice.expect(alice.do("GET", "/wallets/"+walletB, nil), 404)

		c := v.Client(t)
		anon, _ := c.Clone()
		anon.ClearToken()
		login, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "prism-tenant", "jwt": jwtA})
		if err != nil {
			t.Fatal(err)
		}
		anon.SetToken(login.Auth.ClientToken)
		if _, err := anon.KVv2("secret").Get(t.Context(), walletA+"/seed"); err != nil {
			t.Fatalf("alice's Vault token cannot read her seed: %v", err)
		}
		if _, err := anon.KVv2("secret").Get(t.Context(), walletB+"/seed"); !isForbidden(err) {
			t.Fatalf("alice's Vault token reading bob's seed: %v, want 403", err)
		}
	})

	t.Run("forged and altered tokens", func(t *testing.T) {
		pub, kid := vaultSigningKey(t, v)
		claims := payloadOf(t, jwtA)
		stolen := map[string]any{}
		for k, val := range claims {
			stolen[k] = val
		}
		stolen["wallet_id"] = walletB
		enc := base64.RawURLEncoding
		none := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
			enc.EncodeToString(mustJSON(claims)) + "."
		want := ""
		for name, tok := range map[string]string{
			"alg none":                     none,
			"HS256 keyed with the JWKS":    forgeHS256(pub, kid, claims),
			"payload names another wallet": replacePayload(jwtA, stolen),
			"garbage":                      "not-a-jwt",
		} {
			r := a.bearer(t, tok).do("GET", "/secrets/shared-name", nil)
			if r.status != 401 {
				t.Fatalf("%s: status %d", name, r.status)
			}
			if want == "" {
				want = r.body["detail"].(string)
			} else if r.body["detail"] != want {
				t.Fatalf("%s: detail %q differs from %q", name, r.body["detail"], want)
			}
		}
	})

	t.Run("rotating Vault's key", func(t *testing.T) {
		if _, err := v.Client(t).Logical().Write("identity/oidc/key/prism-agent/rotate", nil); err != nil {
			t.Fatal(err)
		}
		fresh := a.token(url.Values{"grant_type": {"password"}, "username": {"alice"},
			"password": {alice.body["password"].(string)}})
		if fresh.status != 200 {
			t.Fatalf("token after rotation: %s", fresh.raw)
		}
		for _, tok := range []string{fresh.body["access_token"].(string), jwtA} {
			b := a.bearer(t, tok)
			b.expect(b.do("GET", "/secrets/shared-name", nil), 200)
		}
	})

	t.Run("a disabled wallet's token", func(t *testing.T) {
		adm := a.admin(t)
		adm.expect(adm.do("POST", "/wallets/"+walletA+"/disable", nil), 200)
		a.bearer(t, jwtA).expect(a.bearer(t, jwtA).do("GET", "/secrets/shared-name", nil), 401)
		r := a.token(url.Values{"grant_type": {"password"}, "username": {"alice"},
			"password": {alice.body["password"].(string)}})
		if r.status != 401 {
			t.Fatalf("a disabled wallet got a token: %d %s", r.status, r.raw)
		}
		a.bearer(t, jwtB).expect(a.bearer(t, jwtB).do("GET", "/secrets/shared-name", nil), 200)
	})

	t.Run("failed token requests are rate-limited", func(t *testing.T) {
		a := a.on(t)
		limited := false
		for i := 0; i < 15 && !limited; i++ {
			r := a.token(url.Values{"grant_type": {"password"}, "username": {"guessed"}, "password": {"x"}})
			limited = r.status == 429 && r.header.Get("Retry-After") != ""
		}
		if !limited {
			t.Fatal("15 failed attempts for one client were not limited")
		}
		// Another client from the same address still gets its token.
		r := a.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {bob.body["clientId"].(string)},
			"client_secret": {bob.body["clientSecret"].(string)}})
		if r.status != 200 {
			t.Fatalf("another client after the limit: %d %s", r.status, r.raw)
		}
	})

	for _, secretValue := range []string{alice.body["password"].(string), bob.body["clientSecret"].(string), jwtA} {
		if strings.Contains(a.logs.String(), secretValue) {
			t.Fatal("a tenant credential or JWT appears in the logs")
		}
	}
}

// TestPhase3ExternalIssuer: tenants' JWTs come from an OIDC issuer that is
// not Vault; both the agent and Vault's JWT auth trust it.
func TestPhase3ExternalIssuer(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	v := testenv.StartVaultDev(t)
	boot, err := bootstrap.Run(t.Context(), v.Client(t), bootstrap.Options{
		ExternalIssuer: iss.URL, ExternalJWKSURL: iss.JWKSURL})
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, map[string]string{
		"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr, "DATABASE_URL": testenv.PostgresURL(t),
		"PRISM_WALLET_VAULT_AUTH": "jwt", "PRISM_JWT_ISSUER": iss.URL, "PRISM_JWT_JWKS_MIN_REFRESH": "1s",
		"VAULT_APPROLE_ROLE_ID": boot.RoleID, "VAULT_APPROLE_SECRET_ID": boot.SecretID,
	})
	adm := a.admin(t)
	walletA := adm.expect(adm.do("POST", "/wallets", map[string]any{"name": "alice"}), 201).body["id"].(string)
	walletB := adm.expect(adm.do("POST", "/wallets", map[string]any{"name": "bob"}), 201).body["id"].(string)
	good := iss.Sign(iss.Claims("prism-agent", walletA))
	alice := a.bearer(t, good)
	if r := alice.do("PUT", "/secrets/x", map[string]any{"value": "alice"}); r.status != 201 {
		t.Fatalf("first request: %s\nlogs: %s", r.raw, a.logs.String())
	}
	alice.expect(alice.do("POST", "/did-registrar/dids", didTemplate), 201)
	bobTok := iss.Sign(iss.Claims("prism-agent", walletB))
	a.bearer(t, bobTok).expect(a.bearer(t, bobTok).do("GET", "/secrets/x", nil), 404)

	// Rotation at the issuer: new tokens work without a restart. (Before the
	// unknown-kid case below, which spends the rate-limited JWKS refetch.)
	iss.Rotate(true)
	// The verifier refetches the JWKS for an unknown key at most once per
	// PRISM_JWT_JWKS_MIN_REFRESH, counted from its last fetch.
	time.Sleep(1100 * time.Millisecond)
	rotated := iss.Sign(iss.Claims("prism-agent", walletA))
	a.bearer(t, rotated).expect(a.bearer(t, rotated).do("GET", "/secrets/x", nil), 200)
	a.bearer(t, good).expect(a.bearer(t, good).do("GET", "/secrets/x", nil), 200)

	now := time.Now().Unix()
	with := func(k string, val any) map[string]any {
		c := iss.Claims("prism-agent", walletA)
		c[k] = val
		return c
	}
	rsaPub := iss.PublicKey("RS256").(*rsa.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(rsaPub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	tampered := replacePayload(good, with("wallet_id", walletB))

	cases := map[string]string{
		"alg none":                    iss.SignNone(iss.Claims("prism-agent", walletA)),
		"HS256 keyed with public key": iss.SignWith("HS256", pemKey, iss.Claims("prism-agent", walletA)),
		"HS256 keyed with the JWK":    iss.SignWith("HS256", iss.PublicJWK("RS256"), iss.Claims("prism-agent", walletA)),
		"expired":                     iss.Sign(with("exp", now-3600)),
		"nbf in the future":           iss.Sign(with("nbf", now+3600)),
		"wrong aud string":            iss.Sign(with("aud", "someone-else")),
		"wrong aud array":             iss.Sign(with("aud", []string{"a", "b"})),
		"wrong iss":                   iss.Sign(with("iss", "https://evil.example")),
		"unknown kid":                 iss.Sign(iss.Claims("prism-agent", walletA), jwttest.WithKeyID("no-such-key")),
		"tampered payload":            tampered,
	}
	adm.expect(adm.do("POST", "/wallets/"+walletB+"/disable", nil), 200)
	cases["disabled wallet"] = bobTok
	want := ""
	for name, tok := range cases {
		r := a.bearer(t, tok).do("GET", "/secrets/x", nil)
		if r.status != 401 {
			t.Fatalf("%s: status %d %s", name, r.status, r.raw)
		}
		if want == "" {
			want = r.body["detail"].(string)
		} else if r.body["detail"] != want {
			t.Fatalf("%s: detail %q differs from %q", name, r.body["detail"], want)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
