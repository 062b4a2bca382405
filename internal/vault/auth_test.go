package vault_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  vault.Config
	}{
		{"fail/no-address", vault.Config{Token: "t"}},
		{"fail/no-credentials", vault.Config{Addr: "http://127.0.0.1:1"}},
		{"fail/token-and-approle", vault.Config{
			Addr: "http://127.0.0.1:1", Token: "t", RoleID: "r", SecretID: "s",
		}},
		{"fail/role-without-secret", vault.Config{Addr: "http://127.0.0.1:1", RoleID: "r"}},
		{"fail/secret-without-role", vault.Config{Addr: "http://127.0.0.1:1", SecretID: "s"}},
		{"fail/secret-and-wrapped", vault.Config{
			Addr: "http://127.0.0.1:1", RoleID: "r", SecretID: "s", WrappedSecretID: "w",
		}},
		{"fail/negative-timeout", vault.Config{Addr: "http://127.0.0.1:1", Token: "t", RequestTimeout: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vault.New(t.Context(), tc.cfg, nil)
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, s := range []string{tc.cfg.Token, tc.cfg.SecretID, tc.cfg.WrappedSecretID} {
				if s != "" && strings.Contains(err.Error(), "\""+s+"\"") {
					t.Fatalf("error %q contains a secret", err)
				}
			}
		})
	}

	t.Run("ok/masked", func(t *testing.T) {
		cfg := vault.Config{Addr: "http://v", Token: "tok-123", SecretID: "sid-456", WrappedSecretID: "w-789"}
		logger, logs := newLogger(t)
		logger.Info("config", "cfg", cfg)
		outs := []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logs.String()}
		for _, out := range outs {
			for _, s := range []string{"tok-123", "sid-456", "w-789"} {
				if strings.Contains(out, s) {
					t.Fatalf("%q shows a secret", out)
				}
			}
		}
	})
}

// TestStaticToken covers Phase 1: a token given at start.
func TestStaticToken(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	mount := v.NewKVMount(t)
	p := secret.Path{Dir: "w/generic-secrets", Name: "n"}

	t.Run("ok/root", func(t *testing.T) {
		logger, logs := newLogger(t)
		c := newClient(t, vault.Config{Addr: v.Addr, Token: v.RootToken, KVMount: mount}, logger)
		if _, err := c.KV().Put(t.Context(), p, "v", secret.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if logs.count("vault token") != 1 {
			t.Fatalf("want one token lookup line in the log")
		}
		c.Close()
		// Closing must not revoke a token the agent was given.
		if _, err := v.Client(t).Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("root token unusable after Close: %v", err)
		}
		assertNoSecrets(t, logs, v.RootToken)
	})

	t.Run("ok/renewable", func(t *testing.T) {
		policy := randomName(t, "kv")
		v.WritePolicy(t, policy, kvPolicy(mount))
		token := v.CreateToken(t, &api.TokenCreateRequest{
			Policies: []string{policy}, TTL: "2s", ExplicitMaxTTL: "1h",
		})
		logger, logs := newLogger(t)
		c := newClient(t, vault.Config{Addr: v.Addr, Token: token, KVMount: mount}, logger)
		// The token outlives several TTLs only because it is renewed.
		waitFor(t, "three renewals", func() bool { return c.Stats().Renewals >= 3 })
		if _, err := c.KV().Put(t.Context(), p, "v", secret.PutOptions{}); err != nil {
			t.Fatalf("Put after renewals: %v", err)
		}
		if s := c.Stats(); s.Logins != 0 || s.Relogins != 0 {
			t.Fatalf("static token client logged in: %+v", s)
		}
		assertNoSecrets(t, logs, token, v.RootToken)
	})
}

// waitFor polls cond until it holds; the bound only keeps a broken client
// from hanging the test run.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAppRoleLifecycle keeps a pool of writers busy through many renewals
// and re-logins of a short-lived AppRole token: not one request may fail.
func TestAppRoleLifecycle(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	mount := v.NewKVMount(t)
	role := agentAppRole(t, v, mount, map[string]any{"token_ttl": "2s", "token_max_ttl": "6s"})
	secretID := role.SecretID(t)
	logger, logs := newLogger(t)
	c := newClient(t, vault.Config{
		Addr: v.Addr, RoleID: role.RoleID, SecretID: secretID, KVMount: mount,
	}, logger)
	kv := c.KV()

	const (
		workers  = 6
		duration = 20 * time.Second
	)
	var (
		ops, failures atomic.Int64
		firstErr      atomic.Value
		tokens        sync.Map
	)
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			for i := 0; time.Now().Before(stop); i++ {
				p := secret.Path{Dir: fmt.Sprintf("w%d/generic-secrets", w), Name: fmt.Sprintf("n%d", i%5)}
				value := fmt.Sprintf("%d-%d", w, i)
				ops.Add(1)
				if _, err := kv.Put(ctx, p, value, secret.PutOptions{}); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("Put: %w", err))
					continue
				}
				ops.Add(1)
				got, err := kv.Get(ctx, p, 0)
				if err != nil || got.Value != value {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("Get = %q, %w", got.Value, err))
				}
			}
		})
	}
	// Remember every token the client used, to look for them in the log.
	wg.Go(func() {
		for time.Now().Before(stop) {
			tokens.Store(c.API().Token(), true)
			time.Sleep(100 * time.Millisecond)
		}
	})
	wg.Wait()

	s := c.Stats()
	t.Logf("%d requests, %d failed; stats %+v", ops.Load(), failures.Load(), s)
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests failed; first: %v", n, ops.Load(), firstErr.Load())
	}
	if s.Renewals == 0 || s.Relogins == 0 {
		t.Errorf("want renewals and re-logins during %s, got %+v", duration, s)
	}
	if logs.count("vault token renewed") == 0 || logs.count("vault login") < 2 {
		t.Errorf("renewals and logins are not logged")
	}
	secrets := []string{secretID, v.RootToken}
	tokens.Range(func(k, _ any) bool {
		secrets = append(secrets, k.(string))
		return true
	})
	if len(secrets) < 4 {
		t.Errorf("sampled only %d tokens; re-logins should have produced more", len(secrets)-2)
	}
	assertNoSecrets(t, logs, secrets...)
}

// TestAppRoleRejectedToken revokes the agent's token behind its back: the
// next request logs in again and succeeds.
func TestAppRoleRejectedToken(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	mount := v.NewKVMount(t)
	role := agentAppRole(t, v, mount, map[string]any{"token_ttl": "1h"})
	secretID := role.SecretID(t)
	logger, logs := newLogger(t)
	c := newClient(t, vault.Config{
		Addr: v.Addr, RoleID: role.RoleID, SecretID: secretID, KVMount: mount,
	}, logger)

	old := c.API().Token()
	if err := v.Client(t).Auth().Token().RevokeOrphan(old); err != nil {
		t.Fatalf("revoking the agent token: %v", err)
	}
	p := secret.Path{Dir: "w/generic-secrets", Name: "after-revoke"}
	if _, err := c.KV().Put(t.Context(), p, "v", secret.PutOptions{}); err != nil {
		t.Fatalf("Put after the token was revoked: %v", err)
	}
	s := c.Stats()
	if s.TokenRetries != 1 || s.Relogins != 1 {
		t.Fatalf("stats %+v, want one re-login and one retried request", s)
	}
	if c.API().Token() == old {
		t.Fatal("API client still carries the revoked token")
	}
	c.Close()
	// Close revokes the AppRole token.
	if _, err := v.Client(t).Auth().Token().Lookup(c.API().Token()); err == nil {
		t.Fatal("token still valid after Close")
	}
	assertNoSecrets(t, logs, secretID, old, v.RootToken)
}

// TestAppRoleWrappedSecretID logs in with a secret id delivered in a
// response-wrapping token, which can serve only once.
func TestAppRoleWrappedSecretID(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	mount := v.NewKVMount(t)
	role := agentAppRole(t, v, mount, map[string]any{"token_ttl": "1h"})
	wrapping := role.WrappedSecretID(t, time.Minute)
	logger, logs := newLogger(t)
	cfg := vault.Config{Addr: v.Addr, RoleID: role.RoleID, WrappedSecretID: wrapping, KVMount: mount}

	t.Run("ok/login", func(t *testing.T) {
		c := newClient(t, cfg, logger)
		p := secret.Path{Dir: "w/generic-secrets", Name: "n"}
		if _, err := c.KV().Put(t.Context(), p, "v", secret.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if _, err := v.Client(t).Logical().Write("sys/wrapping/lookup",
			map[string]any{"token": wrapping}); err == nil {
			t.Fatal("the wrapping token is still valid after the agent unwrapped it")
		}
		if logs.count("vault approle secret id unwrapped") != 1 {
			t.Fatal("unwrapping is not logged")
		}
		assertNoSecrets(t, logs, wrapping, c.API().Token())
	})

	t.Run("fail/reused-wrapping-token", func(t *testing.T) {
		_, err := vault.New(t.Context(), cfg, logger)
		if err == nil || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("New with a used wrapping token: got %v, want an error saying so", err)
		}
		if strings.Contains(err.Error(), wrapping) {
			t.Fatalf("error %q contains the wrapping token", err)
		}
	})
	assertNoSecrets(t, logs, wrapping, v.RootToken)
}

func TestAppRoleRefused(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	mount := v.NewKVMount(t)
	role := agentAppRole(t, v, mount, nil)
	logger, logs := newLogger(t)
	wrong := "0f0e0d0c-aaaa-bbbb-cccc-" + randomName(t, "x")

	_, err := vault.New(t.Context(), vault.Config{
		Addr: v.Addr, RoleID: role.RoleID, SecretID: wrong, KVMount: mount,
	}, logger)
	if err == nil || !strings.Contains(err.Error(), "credentials refused") {
		t.Fatalf("New with a wrong secret id: got %v, want refused credentials", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("error %q contains the secret id", err)
	}
	assertNoSecrets(t, logs, wrong)
}

func TestUnreachableAtStart(t *testing.T) {
	// Nothing listens on this address; New keeps retrying until ctx ends.
	logger, logs := newLogger(t)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	_, err := vault.New(ctx, vault.Config{Addr: "http://127.0.0.1:9", Token: "tok-unreachable"}, logger)
	if !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("got %v, want %v", err, secret.ErrUnavailable)
	}
	if logs.count("vault unreachable, retrying") == 0 {
		t.Fatal("retries are not logged")
	}
	assertNoSecrets(t, logs, "tok-unreachable")
}
