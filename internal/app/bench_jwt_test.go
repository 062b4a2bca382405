package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prism-agent/prism-agent/internal/jwtauth/jwttest"
	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault/bootstrap"
)

// BenchmarkJWTTenantRead reads one generic secret per request over 100
// wallets in the jwt mode, once with API-key tenants (wallet tokens from
// the token role) and once with JWT tenants (Vault tokens from the
// tenant's JWT, cached per JWT), and reports the Vault JWT logins per
// tenant during the run.
func BenchmarkJWTTenantRead(b *testing.B) {
	iss := jwttest.NewIssuer(b)
	v := testenv.StartVaultDev(b)
	boot, err := bootstrap.Run(context.Background(), v.Client(b), bootstrap.Options{
		ExternalIssuer: iss.URL, ExternalJWKSURL: iss.JWKSURL})
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]string{
		"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr, "DATABASE_URL": testenv.PostgresURL(b),
		"PRISM_WALLET_VAULT_AUTH": "jwt", "PRISM_JWT_ISSUER": iss.URL,
		"VAULT_APPROLE_ROLE_ID": boot.RoleID, "VAULT_APPROLE_SECRET_ID": boot.SecretID,
		"ADMIN_TOKEN": "bench-admin-token-0123456789",
	}
	a, url := benchApp(b, env)

	apiKeys := make([]string, 100)
	jwts := make([]string, 100)
	for i := range apiKeys {
		apiKeys[i] = benchTenant(b, url, i)
		req, _ := http.NewRequest("GET", url+"/wallets", nil)
		req.Header.Set("apikey", apiKeys[i])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Contents []struct{ ID string } `json:"contents"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		claims := iss.Claims("prism-agent", page.Contents[0].ID)
		claims["exp"] = claims["exp"].(int64) + 3600
		jwts[i] = iss.Sign(claims)
	}
	// Logins are counted from here over all runs of a sub-benchmark: each
	// JWT tenant should log into Vault once, then hit the cache.
	loginsBefore := a.Tenancy.Stats().JWTLogins
	for _, c := range []struct {
		name   string
		header func(i int64) (string, string)
	}{
		{"api-key", func(i int64) (string, string) { return "apikey", apiKeys[i%100] }},
		{"jwt", func(i int64) (string, string) { return "Authorization", "Bearer " + jwts[i%100] }},
	} {
		b.Run(c.name, func(b *testing.B) {
			readInParallel(b, url, c.header)
			b.ReportMetric(float64(a.Tenancy.Stats().JWTLogins-loginsBefore)/100, "vault-logins/tenant")
		})
	}
}

// readInParallel reads the secret "bench" through the API from parallel
// goroutines; header gives the authentication header of the i-th request.
func readInParallel(b *testing.B, url string, header func(i int64) (string, string)) {
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url+"/secrets/bench", nil)
			req.Header.Set(header(next.Add(1)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
