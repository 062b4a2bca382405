package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) Getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s.file-token-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seed := strings.Repeat("ab", 64)
	vault := map[string]string{"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": "http://127.0.0.1:8200"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "ok/defaults", env: map[string]string{}, check: func(t *testing.T, c Config) {
			if c.SecretBackend != BackendEmbedded || c.ListenAddr() != "127.0.0.1:8085" ||
				c.DataDir != "./prism-data" || !c.Vault.SemanticPaths || c.Vault.KVMount != "secret" {
				t.Errorf("unexpected defaults: %+v", c)
			}
		}},
		{name: "ok/flags override env", env: map[string]string{"AGENT_HTTP_PORT": "9000"},
			args: []string{"-http-port", "9001"}, check: func(t *testing.T, c Config) {
				if c.HTTPPort != 9001 {
					t.Errorf("port = %d, want 9001", c.HTTPPort)
				}
			}},
		{name: "ok/vault token from file", env: with(vault, "VAULT_TOKEN_FILE", tokenFile),
			check: func(t *testing.T, c Config) {
				if c.Vault.Token.Reveal() != "s.file-token-value" {
					t.Errorf("token not read from file")
				}
			}},
		{name: "ok/approle", env: with(vault, "VAULT_APPROLE_ROLE_ID", "r", "VAULT_APPROLE_SECRET_ID", "s")},
		{name: "ok/approle wrapped", env: with(vault, "VAULT_APPROLE_ROLE_ID", "r",
			"VAULT_APPROLE_SECRET_ID_WRAPPING_TOKEN", "w")},
		{name: "ok/seed", env: map[string]string{"DEFAULT_WALLET_SEED": seed}},
		{name: "fail/unknown backend", env: map[string]string{"SECRET_STORAGE_BACKEND": "s3"},
			wantErr: `SECRET_STORAGE_BACKEND: "s3" is not one of`},
		{name: "fail/vault without address", env: map[string]string{"SECRET_STORAGE_BACKEND": "vault",
			"VAULT_TOKEN": "t"}, wantErr: "VAULT_ADDR: must be set"},
		{name: "fail/vault without credentials", env: vault, wantErr: "without credentials"},
		{name: "fail/token and approle", env: with(vault, "VAULT_TOKEN", "t", "VAULT_APPROLE_ROLE_ID", "r",
			"VAULT_APPROLE_SECRET_ID", "s"), wantErr: "both set"},
		{name: "fail/role id without secret id", env: with(vault, "VAULT_APPROLE_ROLE_ID", "r"),
			wantErr: "without VAULT_APPROLE_SECRET_ID"},
		{name: "fail/secret id without role id", env: with(vault, "VAULT_APPROLE_SECRET_ID", "s"),
			wantErr: "VAULT_APPROLE_ROLE_ID: must be set"},
		{name: "fail/seed too short", env: map[string]string{"DEFAULT_WALLET_SEED": "abcd"},
			wantErr: "DEFAULT_WALLET_SEED: must be exactly 128 hexadecimal"},
		{name: "fail/seed not hex", env: map[string]string{"DEFAULT_WALLET_SEED": strings.Repeat("zz", 64)},
			wantErr: "DEFAULT_WALLET_SEED"},
		{name: "fail/unreadable file", env: map[string]string{"ADMIN_TOKEN_FILE": filepath.Join(dir, "missing")},
			wantErr: "ADMIN_TOKEN_FILE: cannot read"},
		{name: "fail/value and file", env: map[string]string{"ADMIN_TOKEN": "x", "ADMIN_TOKEN_FILE": tokenFile},
			wantErr: "ADMIN_TOKEN and ADMIN_TOKEN_FILE are both set"},
		{name: "fail/short admin token", env: map[string]string{"ADMIN_TOKEN": "short"},
			wantErr: "ADMIN_TOKEN: must be 16 to 128"},
		{name: "fail/vault addr with embedded", env: map[string]string{"VAULT_ADDR": "http://x"},
			wantErr: "VAULT_ADDR is set but"},
		{name: "fail/unknown wallet auth", env: map[string]string{"PRISM_WALLET_VAULT_AUTH": "magic"},
			wantErr: "PRISM_WALLET_VAULT_AUTH"},
		{name: "fail/token-role without vault", env: map[string]string{"PRISM_WALLET_VAULT_AUTH": "token-role"},
			wantErr: "needs SECRET_STORAGE_BACKEND=vault"},
		{name: "fail/bad port", env: map[string]string{"AGENT_HTTP_PORT": "http"}, wantErr: "not an integer"},
		{name: "fail/bad bool", env: map[string]string{"VAULT_USE_SEMANTIC_PATH": "maybe"}, wantErr: "not true or false"},
		{name: "fail/bad database url", env: map[string]string{"DATABASE_URL": "mysql://x"}, wantErr: "DATABASE_URL"},
		{name: "fail/secret flag refused", env: map[string]string{}, args: []string{"-vault-token", "t"},
			wantErr: "flag provided but not defined"},
		{name: "fail/stray argument", env: map[string]string{}, args: []string{"extra"}, wantErr: "unexpected argument"},
		{name: "fail/migration url without database url", env: map[string]string{
			"DATABASE_MIGRATION_URL": "postgres://o@h/db"}, wantErr: "without DATABASE_URL"},
		{name: "fail/migration url not postgres", env: map[string]string{"DATABASE_URL": "postgres://a@h/db",
			"DATABASE_MIGRATION_URL": "mysql://o@h/db"}, wantErr: "DATABASE_MIGRATION_URL: must be"},
		{name: "fail/app role without migration url", env: map[string]string{"DATABASE_URL": "postgres://a@h/db",
			"DATABASE_APP_ROLE": "r"}, wantErr: "DATABASE_APP_ROLE is set without"},
		{name: "ok/trusted proxies", env: map[string]string{"AGENT_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"},
			check: func(t *testing.T, c Config) {
				if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].Bits() != 32 {
					t.Errorf("trusted proxies = %v", c.TrustedProxies)
				}
			}},
		{name: "fail/bad trusted proxy", env: map[string]string{"AGENT_HTTP_TRUSTED_PROXIES": "gateway"},
			wantErr: "AGENT_HTTP_TRUSTED_PROXIES"},
		{name: "ok/jwt mode defaults to Vault's issuer", env: with(vault, "VAULT_TOKEN", "t",
			"PRISM_WALLET_VAULT_AUTH", "jwt"), check: func(t *testing.T, c Config) {
			if c.JWT.Issuer != "http://127.0.0.1:8200/v1/identity/oidc" || !c.JWT.Enabled() {
				t.Errorf("issuer = %q", c.JWT.Issuer)
			}
		}},
		{name: "fail/bad issuer", env: map[string]string{"PRISM_JWT_ISSUER": "issuer.example"},
			wantErr: "PRISM_JWT_ISSUER"},
		{name: "fail/leeway too large", env: map[string]string{"PRISM_JWT_ISSUER": "https://i.example",
			"PRISM_JWT_LEEWAY": "1h"}, wantErr: "PRISM_JWT_LEEWAY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	secretValue := "super-secret-seed-value-zz"
	_, err := Load(nil, env(map[string]string{"DEFAULT_WALLET_SEED": secretValue,
		"ADMIN_TOKEN": "tiny-secret"}), io.Discard)
	if err == nil {
		t.Fatal("expected an error")
	}
	if strings.Contains(err.Error(), secretValue) || strings.Contains(err.Error(), "tiny-secret") {
		t.Fatalf("error leaks a secret: %v", err)
	}
}

func TestSecretIsMasked(t *testing.T) {
	s := Secret("hunter2hunter2hunter2")
	for _, got := range []string{s.String(), s.GoString(), string(must(s.MarshalJSON())), s.LogValue().String()} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("secret leaked: %q", got)
		}
	}
	if s.Reveal() != "hunter2hunter2hunter2" {
		t.Error("Reveal lost the value")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
