package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault/bootstrap"
)

// BenchmarkMultiTenantRead reads one generic secret per request, spread
// over 100 wallets, in agent mode (the agent's own token) and in
// token-role mode (a cached wallet token per wallet), and reports the
// Vault logins and wallet-token mints the run needed.
func BenchmarkMultiTenantRead(b *testing.B) {
	v := testenv.StartVaultDev(b)
	boot, err := bootstrap.Run(context.Background(), v.Client(b), bootstrap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	v.WritePolicy(b, "prism-agent-kv", mustRead(b, "../../deploy/vault/agent-kv.hcl"))
	role := v.CreateAppRole(b, "approle", "prism-agent-kv", map[string]any{"token_policies": "prism-agent-kv"})

	for _, mode := range []struct {
		name string
		env  map[string]string
	}{
		{"agent", map[string]string{"PRISM_WALLET_VAULT_AUTH": "agent",
			"VAULT_APPROLE_ROLE_ID": role.RoleID, "VAULT_APPROLE_SECRET_ID": role.SecretID(b)}},
		{"token-role", map[string]string{"PRISM_WALLET_VAULT_AUTH": "token-role",
			"VAULT_APPROLE_ROLE_ID": boot.RoleID, "VAULT_APPROLE_SECRET_ID": newSecretID(b, v)}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			env := mode.env
			env["SECRET_STORAGE_BACKEND"], env["VAULT_ADDR"] = "vault", v.Addr
			env["DATABASE_URL"] = testenv.PostgresURL(b)
			env["ADMIN_TOKEN"] = "bench-admin-token-0123456789"
			a, url := benchApp(b, env)
			keys := make([]string, 100)
			for i := range keys {
				keys[i] = benchTenant(b, url, i)
			}
			loginsBefore := a.Vault.Stats().Logins
			var mintsBefore uint64
			if a.Tenancy != nil {
				mintsBefore = a.Tenancy.Stats().Mints
			}
			b.ResetTimer()
			readInParallel(b, url, func(i int64) (string, string) { return "apikey", keys[i%int64(len(keys))] })
			b.StopTimer()
			b.ReportMetric(float64(a.Vault.Stats().Logins-loginsBefore), "logins")
			if a.Tenancy != nil {
				b.ReportMetric(float64(a.Tenancy.Stats().Mints-mintsBefore), "mints")
			}
		})
	}
}

func mustRead(b *testing.B, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

func newSecretID(b *testing.B, v *testenv.Vault) string {
	r, err := bootstrap.Run(context.Background(), v.Client(b), bootstrap.Options{NewSecretID: true})
	if err != nil {
		b.Fatal(err)
	}
	return r.SecretID
}

// benchTenant creates a wallet, entity, API key and one secret through
// the API and returns the API key.
func benchTenant(b *testing.B, url string, i int) string {
	do := func(method, path, body string, header ...string) map[string]any {
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for j := 0; j+1 < len(header); j += 2 {
			req.Header.Set(header[j], header[j+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			b.Fatalf("%s %s: %s", method, path, resp.Status)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	admin := []string{"x-admin-api-key", "bench-admin-token-0123456789"}
	w := do("POST", "/wallets", `{"name":"bench"}`, admin...)
	e := do("POST", "/iam/entities", `{"name":"bench","walletId":"`+w["id"].(string)+`"}`, admin...)
	key := "bench-key-" + strconv.Itoa(i) + "-" + w["id"].(string)
	do("POST", "/iam/apikey-authentication", `{"entityId":"`+e["id"].(string)+`","apiKey":"`+key+`"}`, admin...)
	do("PUT", "/secrets/bench", `{"value":"v"}`, "apikey", key)
	return key
}
