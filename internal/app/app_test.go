package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prism-agent/prism-agent/internal/config"
	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/wallet"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agent is one running agent under test.
type agent struct {
	t      *testing.T
	app    *App
	srv    *httptest.Server
	apiKey string
	// adminToken, when set, is sent as x-admin-api-key instead of apikey;
	// jwt, when set, as a bearer token.
	adminToken string
	jwt        string
	logs       *syncBuffer
}

// backend names a configuration of the agent's two stores.
type backend struct {
	name string
	env  func(t *testing.T) map[string]string
}

func backends() []backend {
	return []backend{
		{name: "embedded+sqlite", env: func(t *testing.T) map[string]string { return map[string]string{} }},
		{name: "vault+postgres", env: func(t *testing.T) map[string]string {
			v := testenv.StartVaultDev(t)
			// The agent migrates at start as the owner, and runs as a role
			// that row-level security binds.
			agentURL, migrationURL := testenv.PostgresURLs(t)
			return map[string]string{"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
				"VAULT_TOKEN": v.RootToken, "DATABASE_URL": agentURL,
				"DATABASE_MIGRATION_URL": migrationURL}
		}},
		{name: "vault-hashed+postgres", env: func(t *testing.T) map[string]string {
			v := testenv.StartVaultDev(t)
			return map[string]string{"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
				"VAULT_TOKEN": v.RootToken, "DATABASE_URL": testenv.PostgresURL(t),
				"VAULT_USE_SEMANTIC_PATH": "false"}
		}},
	}
}

func loadConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	if _, ok := env["PRISM_DATA_DIR"]; !ok {
		env["PRISM_DATA_DIR"] = t.TempDir()
	}
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func startAgent(t *testing.T, env map[string]string) *agent {
	t.Helper()
	cfg := loadConfig(t, env)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(context.Background(), cfg, "test", logger)
	if err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	key := cfg.DefaultWalletAPIKey.Reveal()
	if key == "" {
		b, err := os.ReadFile(a.DefaultAPIKeyFile)
		if err != nil {
			t.Fatalf("reading generated api key: %v", err)
		}
		key = strings.TrimSpace(string(b))
	}
	return &agent{t: t, app: a, srv: srv, apiKey: key, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// on returns the agent bound to a subtest, so that failures stop the
// subtest and not its parent.
func (a *agent) on(t *testing.T) *agent {
	b := *a
	b.t = t
	return &b
}

func (a *agent) do(method, path string, body any, headers ...string) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.jwt != "" {
		req.Header.Set("Authorization", "Bearer "+a.jwt)
	} else if a.adminToken != "" {
		req.Header.Set("x-admin-api-key", a.adminToken)
	} else {
		req.Header.Set("apikey", a.apiKey)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (a *agent) expect(r response, status int) response {
	a.t.Helper()
	if r.status != status {
		a.t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.raw)
	}
	if status >= 400 {
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			a.t.Fatalf("error Content-Type = %q, want application/problem+json", ct)
		}
		if int(r.body["status"].(float64)) != status || r.body["type"] == "" || r.body["title"] == "" {
			a.t.Fatalf("malformed problem document: %s", r.raw)
		}
	}
	return r
}

func TestSecretsAPI(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := startAgent(t, b.env(t))
			testSecretLifecycle(t, a)
			testBadInput(t, a)
			testAuthentication(t, a)
			testListPaging(t, a)
		})
	}
}

func testSecretLifecycle(t *testing.T, a *agent) {
	t.Run("lifecycle", func(t *testing.T) {
		a := a.on(t)
		r := a.expect(a.do("PUT", "/secrets/db/password", map[string]any{"value": "v1"}), 201)
		if r.body["version"].(float64) != 1 {
			t.Fatalf("first version = %v", r.body["version"])
		}
		a.expect(a.do("PUT", "/secrets/db/password", map[string]any{"value": "v2"}), 200)
		r = a.expect(a.do("GET", "/secrets/db/password", nil), 200)
		if r.body["value"] != "v2" || r.body["version"].(float64) != 2 {
			t.Fatalf("current = %s", r.raw)
		}
		r = a.expect(a.do("GET", "/secrets/db/password?version=1", nil), 200)
		if r.body["value"] != "v1" {
			t.Fatalf("version 1 = %s", r.raw)
		}

		a.expect(a.do("PUT", "/secrets/db/password", map[string]any{"value": "x", "cas": 1}), 409)
		a.expect(a.do("PUT", "/secrets/db/password", map[string]any{"value": "v3", "cas": 2}), 200)
		a.expect(a.do("PUT", "/secrets/once", map[string]any{"value": "a", "cas": 0}), 201)
		a.expect(a.do("PUT", "/secrets/once", map[string]any{"value": "b", "cas": 0}), 409)
		if r := a.expect(a.do("GET", "/secrets/once", nil), 200); r.body["value"] != "a" {
			t.Fatalf("write-once value changed: %s", r.raw)
		}

		a.expect(a.do("DELETE", "/secrets/db/password", nil), 204)
		a.expect(a.do("GET", "/secrets/db/password", nil), 404)
		a.expect(a.do("GET", "/secrets/db/password?version=2", nil), 200)
		r = a.expect(a.do("GET", "/secrets/db/password/metadata", nil), 200)
		versions := r.body["versions"].([]any)
		if len(versions) != 3 || r.body["currentVersion"].(float64) != 3 ||
			versions[2].(map[string]any)["deletedTime"] == nil {
			t.Fatalf("metadata after delete = %s", r.raw)
		}
		a.expect(a.do("POST", "/secrets/db/password/undelete", nil), 204)
		if r := a.expect(a.do("GET", "/secrets/db/password", nil), 200); r.body["value"] != "v3" {
			t.Fatalf("after undelete = %s", r.raw)
		}
		a.expect(a.do("POST", "/secrets/db/password/destroy", map[string]any{"versions": []int{1}}), 204)
		a.expect(a.do("GET", "/secrets/db/password?version=1", nil), 404)
		a.expect(a.do("POST", "/secrets/db/password/undelete", map[string]any{"versions": []int{1}}), 204)
		a.expect(a.do("GET", "/secrets/db/password?version=1", nil), 404)
		r = a.expect(a.do("GET", "/secrets/db/password/metadata", nil), 200)
		if !r.body["versions"].([]any)[0].(map[string]any)["destroyed"].(bool) {
			t.Fatalf("version 1 not destroyed: %s", r.raw)
		}
		a.expect(a.do("DELETE", "/secrets/never-written", nil), 404)
		a.expect(a.do("GET", "/secrets/never-written/metadata", nil), 404)
	})
}

func testBadInput(t *testing.T, a *agent) {
	big := strings.Repeat("x", 2<<20)
	cases := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"fail/dot-dot segment", "PUT", "/secrets/a/%2E%2E/b", map[string]any{"value": "x"}, 400},
		{"fail/dot-dot escape", "GET", "/secrets/..%2F..%2Fseed", nil, 400},
		{"fail/empty segment", "PUT", "/secrets/a//b", map[string]any{"value": "x"}, 400},
		{"fail/trailing slash", "PUT", "/secrets/a/", map[string]any{"value": "x"}, 400},
		{"fail/control character", "PUT", "/secrets/a%0Ab", map[string]any{"value": "x"}, 400},
		{"fail/nul", "GET", "/secrets/a%00b", nil, 400},
		{"fail/space", "PUT", "/secrets/a%20b", map[string]any{"value": "x"}, 400},
		{"fail/too long name", "PUT", "/secrets/" + strings.Repeat("n", 300), map[string]any{"value": "x"}, 400},
		{"fail/reserved name", "PUT", "/secrets/x/metadata", map[string]any{"value": "x"}, 405},
		{"fail/get an action", "GET", "/secrets/x/undelete", nil, 405},
		{"fail/delete metadata", "DELETE", "/secrets/x/metadata", nil, 405},
		{"fail/invalid utf-8", "PUT", "/secrets/ok", "{\"value\":\"\xff\xfe\"}", 400},
		{"fail/short body", "PUT", "/secrets/ok", "{\"value\":\"x\"", 400},
		{"fail/missing value", "PUT", "/secrets/ok", map[string]any{}, 400},
		{"fail/unknown field", "PUT", "/secrets/ok", map[string]any{"value": "x", "extra": 1}, 400},
		{"fail/wrong type", "PUT", "/secrets/ok", map[string]any{"value": 5}, 400},
		{"fail/not json", "PUT", "/secrets/ok", "value=x", 400},
		{"fail/trailing data", "PUT", "/secrets/ok", `{"value":"x"} {}`, 400},
		{"fail/negative cas", "PUT", "/secrets/ok", map[string]any{"value": "x", "cas": -1}, 400},
		{"fail/bad version", "GET", "/secrets/ok?version=abc", nil, 400},
		{"fail/zero version", "GET", "/secrets/ok?version=0", nil, 400},
		{"fail/bad versions", "DELETE", "/secrets/ok?versions=1,x", nil, 400},
		{"fail/too large", "PUT", "/secrets/ok", map[string]any{"value": big}, 413},
		{"fail/unknown route", "GET", "/nope", nil, 404},
		{"fail/wrong method", "PATCH", "/secrets/ok", nil, 405},
		{"fail/post without action", "POST", "/secrets/ok", nil, 405},
		{"fail/wrong method health", "POST", "/_system/health", nil, 405},
		{"fail/bad limit", "GET", "/secrets?limit=0", nil, 400},
		{"fail/bad offset", "GET", "/secrets?offset=-1", nil, 400},
	}
	t.Run("bad input", func(t *testing.T) {
		a := a.on(t)
		before := a.expect(a.do("GET", "/secrets", nil), 200).raw
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				a := a.on(t)
				a.expect(a.do(c.method, c.path, c.body), c.status)
			})
		}
		if allow := a.expect(a.do("PATCH", "/secrets/ok", nil), 405).header.Get("Allow"); !strings.Contains(allow, "PUT") ||
			!strings.Contains(allow, "GET") {
			t.Errorf("405 Allow = %q", allow)
		}
		if r := a.do("HEAD", "/_system/health", nil); r.status != 200 {
			t.Errorf("HEAD /_system/health = %d", r.status)
		}
		// None of those requests wrote anything.
		if after := a.expect(a.do("GET", "/secrets", nil), 200).raw; after != before {
			t.Errorf("rejected requests changed the secrets:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func testAuthentication(t *testing.T, a *agent) {
	t.Run("authentication", func(t *testing.T) {
		a := a.on(t)
		missing := a.expect(a.do("GET", "/secrets", nil, "apikey", ""), 401)
		wrong := a.expect(a.do("GET", "/secrets", nil, "apikey", "wrong-key-wrong-key"), 401)
		if missing.body["detail"] != wrong.body["detail"] {
			t.Errorf("authentication failures differ: %q vs %q", missing.body["detail"], wrong.body["detail"])
		}
		a.expect(a.do("GET", "/_system/health", nil, "apikey", ""), 200)
		r := a.expect(a.do("GET", "/_system/ready", nil, "apikey", ""), 200)
		if r.body["status"] != "ready" {
			t.Errorf("ready = %s", r.raw)
		}
		// The admin token is not a tenant key.
		admin, err := os.ReadFile(a.app.AdminTokenFile)
		if err != nil {
			t.Fatal(err)
		}
		a.expect(a.do("GET", "/secrets", nil, "apikey", strings.TrimSpace(string(admin))), 401)
	})
}

func testListPaging(t *testing.T, a *agent) {
	t.Run("list paging", func(t *testing.T) {
		a := a.on(t)
		for _, n := range []string{"p/1", "p/2", "p/3"} {
			a.expect(a.do("PUT", "/secrets/"+n, map[string]any{"value": "x"}), 201)
		}
		r := a.expect(a.do("GET", "/secrets?offset=0&limit=2", nil), 200)
		all := len(r.body["contents"].([]any))
		if all != 2 || r.body["next"] != "/secrets?offset=2&limit=2" || r.body["previous"] != nil {
			t.Fatalf("first page = %s", r.raw)
		}
		seen := map[string]bool{}
		for off := 0; ; off += 2 {
			r := a.expect(a.do("GET", "/secrets?limit=2&offset="+strconv.Itoa(off), nil), 200)
			for _, item := range r.body["contents"].([]any) {
				seen[item.(map[string]any)["name"].(string)] = true
			}
			if r.body["next"] == nil {
				break
			}
		}
		for _, n := range []string{"p/1", "p/2", "p/3", "db/password", "once"} {
			if !seen[n] {
				t.Errorf("%s missing from the list: %v", n, seen)
			}
		}
	})
}

func TestDefaultWalletSeedIsKept(t *testing.T) {
	dir := t.TempDir()
	seedA := strings.Repeat("0a", 64)
	env := func(seed string) map[string]string {
		m := map[string]string{"PRISM_DATA_DIR": dir}
		if seed != "" {
			m["DEFAULT_WALLET_SEED"] = seed
		}
		return m
	}
	a := startAgent(t, env(""))
	first, err := a.app.Records.GetWallet(context.Background(), wallet.DefaultID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := a.app.Secrets.Get(context.Background(), secret.Path{Dir: wallet.DefaultID, Name: "seed"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.srv.Close()
	a.app.Close()

	// A restart, even with a different configured seed, keeps the seed.
	b := startAgent(t, env(seedA))
	again, err := b.app.Secrets.Get(context.Background(), secret.Path{Dir: wallet.DefaultID, Name: "seed"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.Value != stored.Value || again.Version != 1 {
		t.Fatalf("the default wallet's seed changed on restart")
	}
	rec, _ := b.app.Records.GetWallet(context.Background(), wallet.DefaultID)
	if !bytes.Equal(rec.SeedDigest, first.SeedDigest) {
		t.Fatal("seed digest changed")
	}
	if !strings.Contains(b.logs.String(), "DEFAULT_WALLET_SEED differs") {
		t.Error("no warning about the ignored DEFAULT_WALLET_SEED")
	}
	if strings.Contains(b.logs.String(), seedA) || strings.Contains(b.logs.String(), stored.Value) {
		t.Fatal("a seed appears in the logs")
	}
	// The key from the first start still works.
	if a.apiKey != b.apiKey {
		t.Fatal("the generated api key changed on restart")
	}
	b.expect(b.do("GET", "/secrets", nil), 200)
}

func TestConfiguredSeedIsUsed(t *testing.T) {
	seed := strings.Repeat("5c", 64)
	a := startAgent(t, map[string]string{"DEFAULT_WALLET_SEED": seed,
		"DEFAULT_WALLET_AUTH_API_KEY": "tenant-key-0123456789", "ADMIN_TOKEN": "admin-token-0123456789"})
	got, err := a.app.Secrets.Get(context.Background(), secret.Path{Dir: wallet.DefaultID, Name: "seed"}, 0)
	if err != nil || got.Value != seed {
		t.Fatalf("stored seed differs from DEFAULT_WALLET_SEED (err %v)", err)
	}
	if a.app.DefaultAPIKeyFile != "" || a.app.AdminTokenFile != "" {
		t.Fatal("configured keys must not be written to files")
	}
	a.expect(a.do("GET", "/secrets", nil), 200)
}

func TestMissingSeedFailsReadiness(t *testing.T) {
	a := startAgent(t, map[string]string{})
	a.expect(a.do("GET", "/_system/ready", nil), 200)
	p := secret.Path{Dir: wallet.DefaultID, Name: "seed"}
	if err := a.app.Secrets.Destroy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	r := a.expect(a.do("GET", "/_system/ready", nil), 503)
	if !strings.Contains(r.raw, "seed is missing") || r.header.Get("Retry-After") == "" {
		t.Fatalf("readiness does not give the reason: %s", r.raw)
	}
}

func TestGeneratedKeyFiles(t *testing.T) {
	a := startAgent(t, map[string]string{})
	for _, f := range []string{a.app.AdminTokenFile, a.app.DefaultAPIKeyFile,
		filepath.Join(filepath.Dir(a.app.AdminTokenFile), HashKeyFile)} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, info.Mode().Perm())
		}
	}
	// The API key is not stored in clear in the record database.
	db, err := os.ReadFile(filepath.Join(filepath.Dir(a.app.AdminTokenFile), RecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(a.apiKey)) {
		t.Fatal("the API key is stored in clear")
	}
}

func storePage(offset, limit int) store.Page { return store.Page{Offset: offset, Limit: limit} }

// TestNewFailsCleanly: a start that cannot complete returns its reason
// and closes what it opened.
func TestNewFailsCleanly(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"fail/data folder is a file", map[string]string{"PRISM_DATA_DIR": file}, "creating data folder"},
		{"fail/superuser database role", map[string]string{"DATABASE_URL": testenv.PostgresAdminURL()},
			"superuser"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := loadConfig(t, c.env)
			a, err := New(context.Background(), cfg, "test", slog.New(slog.DiscardHandler))
			if err == nil || a != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, %v; want an error about %q", a, err, c.want)
			}
		})
	}
}
