package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prism-agent/prism-agent/internal/config"
	"github.com/prism-agent/prism-agent/internal/testenv"
)

// BenchmarkReadSecret reads one generic secret through the HTTP API on
// each backend and, for comparison, directly from Vault with the official
// client, so that the agent's overhead shows as a ratio.
func BenchmarkReadSecret(b *testing.B) {
	v := testenv.StartVaultDev(b)
	pg := testenv.PostgresURL(b)
	backends := []struct {
		name string
		env  map[string]string
	}{
		{"api/embedded+sqlite", map[string]string{}},
		{"api/vault+postgres", map[string]string{"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
			"VAULT_TOKEN": v.RootToken, "DATABASE_URL": pg}},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			url, apiKey := benchAgent(b, be.env)
			put, _ := http.NewRequest("PUT", url+"/secrets/bench", strings.NewReader(`{"value":"v"}`))
			put.Header.Set("apikey", apiKey)
			if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode >= 300 {
				b.Fatalf("storing the secret: %v", err)
			}
			req, _ := http.NewRequest("GET", url+"/secrets/bench", nil)
			req.Header.Set("apikey", apiKey)
			b.ResetTimer()
			for b.Loop() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
	b.Run("direct/vault-kv2", func(b *testing.B) {
		c := v.Client(b)
		ctx := context.Background()
		if _, err := c.KVv2("secret").Put(ctx, "bench/direct", map[string]any{"value": "v"}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := c.KVv2("secret").Get(ctx, "bench/direct"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchAgent starts an agent for a benchmark and returns its URL and the
// default wallet's API key.
func benchAgent(b *testing.B, env map[string]string) (string, string) {
	b.Helper()
	a, url := benchApp(b, env)
	key, err := os.ReadFile(a.DefaultAPIKeyFile)
	if err != nil {
		b.Fatal(err)
	}
	return url, strings.TrimSpace(string(key))
}

// benchApp starts an agent configured by env, logging nowhere, and
// returns it with its URL; both stop when the benchmark ends.
func benchApp(b *testing.B, env map[string]string) (*App, string) {
	b.Helper()
	if _, ok := env["PRISM_DATA_DIR"]; !ok {
		env["PRISM_DATA_DIR"] = b.TempDir()
	}
	cfg, err := config.Load(nil, func(k string) (string, bool) { x, ok := env[k]; return x, ok }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(context.Background(), cfg, "bench", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a.Handler)
	b.Cleanup(srv.Close)
	return a, srv.URL
}

// BenchmarkCreateDID creates a DID with one secp256k1 authentication key
// (plus master0) through the API: derivation, encoding, did-index
// allocation and the record write.
func BenchmarkCreateDID(b *testing.B) {
	v := testenv.StartVaultDev(b)
	pg := testenv.PostgresURL(b)
	body := `{"documentTemplate":{"publicKeys":[{"id":"auth-1","purpose":"authentication"}],` +
		`"services":[],"contexts":[]}}`
	for _, be := range []struct {
		name string
		env  map[string]string
	}{
		{"embedded+sqlite", map[string]string{}},
		{"vault+postgres", map[string]string{"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
			"VAULT_TOKEN": v.RootToken, "DATABASE_URL": pg}},
	} {
		b.Run(be.name, func(b *testing.B) {
			url, key := benchAgent(b, be.env)
			for b.Loop() {
				req, _ := http.NewRequest("POST", url+"/did-registrar/dids", strings.NewReader(body))
				req.Header.Set("apikey", key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
