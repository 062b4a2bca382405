package vault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault"
)

// TestOutage takes Vault away and brings it back under a running client:
// while it is gone every operation reports ErrUnavailable, afterwards the
// same client works again, and no acknowledged write is lost.
func TestOutage(t *testing.T) {
	stop := func(v *testenv.Vault) { v.Stop() }
	start := func(v *testenv.Vault) { v.Start() }
	seal := func(v *testenv.Vault) { v.Seal() }
	unseal := func(v *testenv.Vault) { v.Unseal() }
	for _, tc := range []struct {
		name        string
		approle     bool
		away, back  func(*testenv.Vault)
		wantRelogin bool
	}{
		{"ok/approle-stopped", true, stop, start, true},
		{"ok/token-stopped", false, stop, start, false},
		{"ok/approle-sealed", true, seal, unseal, true},
		{"ok/token-sealed", false, seal, unseal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testenv.StartVaultPersistent(t)
			logger, logs := newLogger(t)
			cfg := vault.Config{Addr: v.Addr, KVMount: "secret", RequestTimeout: 2 * time.Second}
			secrets := []string{v.RootToken}
			if tc.approle {
				// A TTL shorter than the outage: the token expires while Vault
				// is away and the client must log in again on its own.
				role := agentAppRole(t, v, "secret", map[string]any{"token_ttl": "2s", "token_max_ttl": "1h"})
				cfg.RoleID, cfg.SecretID = role.RoleID, role.SecretID(t)
				secrets = append(secrets, cfg.SecretID)
			} else {
				cfg.Token = v.RootToken
			}
			c := newClient(t, cfg, logger)
			kv := c.KV()
			ctx := context.Background()

			acked := map[secret.Path]string{}
			put := func(i int) error {
				p := secret.Path{Dir: "w/generic-secrets", Name: fmt.Sprintf("n%03d", i)}
				value := fmt.Sprintf("value-%03d", i)
				_, err := kv.Put(ctx, p, value, secret.PutOptions{})
				if err == nil {
					acked[p] = value
				}
				return err
			}
			for i := range 10 {
				if err := put(i); err != nil {
					t.Fatalf("Put before the outage: %v", err)
				}
			}
			secrets = append(secrets, c.API().Token())

			tc.away(v)
			outageEnd := time.Now().Add(3 * time.Second)
			n := 0
			for i := 100; time.Now().Before(outageEnd); i++ {
				errs := map[string]error{
					"Put":  put(i),
					"Ping": kv.Ping(ctx),
				}
				_, errs["Get"] = kv.Get(ctx, secret.Path{Dir: "w/generic-secrets", Name: "n000"}, 0)
				_, errs["List"] = kv.List(ctx, "w")
				for op, err := range errs {
					if !errors.Is(err, secret.ErrUnavailable) {
						t.Fatalf("%s during the outage: got %v, want %v", op, err, secret.ErrUnavailable)
					}
				}
				n++
			}
			t.Logf("%d rounds of operations during the outage", n)

			tc.back(v)
			// The client needs no restart; it may take a moment (backoff, a
			// new login) before requests go through again.
			i := 200
			waitFor(t, "a write after Vault came back", func() bool {
				i++
				return put(i) == nil
			})
			if err := kv.Ping(ctx); err != nil {
				t.Fatalf("Ping after the outage: %v", err)
			}
			for j := 300; j < 310; j++ {
				if err := put(j); err != nil {
					t.Fatalf("Put after the outage: %v", err)
				}
			}

			for p, want := range acked {
				got, err := kv.Get(ctx, p, 0)
				if err != nil || got.Value != want {
					t.Fatalf("acknowledged write %s: got %q, %v; want %q", p, got.Value, err, want)
				}
			}
			if tc.wantRelogin && c.Stats().Relogins == 0 {
				t.Errorf("the token outlived its TTL without a re-login: %+v", c.Stats())
			}
			t.Logf("stats %+v", c.Stats())
			secrets = append(secrets, c.API().Token())
			assertNoSecrets(t, logs, secrets...)
		})
	}
}
