package app

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault/bootstrap"
)

// isolatedVault starts Vault, configures it with bootstrap as an operator
// would, and returns the agent's settings for token-role mode.
func isolatedVault(t *testing.T) (*testenv.Vault, *bootstrap.Result, map[string]string) {
	v := testenv.StartVaultDev(t)
	r, err := bootstrap.Run(t.Context(), v.Client(t), bootstrap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v, r, map[string]string{
		"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr, "DATABASE_URL": testenv.PostgresURL(t),
		"PRISM_WALLET_VAULT_AUTH": "token-role",
		"VAULT_APPROLE_ROLE_ID":   r.RoleID, "VAULT_APPROLE_SECRET_ID": r.SecretID,
	}
}

// walletToken mints, as the operator, a token for a wallet's entity
// through the wallet token role: the token the agent would use.
func walletToken(t *testing.T, v *testenv.Vault, walletID string) *api.Client {
	t.Helper()
	c := v.Client(t)
	s, err := c.Logical().Write("auth/token/create/prism-wallet",
		map[string]any{"entity_alias": "prism-wallet-" + walletID})
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := c.Clone()
	wc.SetToken(s.Auth.ClientToken)
	return wc
}

func isForbidden(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == 403
}

func TestTokenRoleIsolation(t *testing.T) {
	v, boot, env := isolatedVault(t)
	a := startAgent(t, env)
	walletA, alice := a.newTenant(t, "alice")
	walletB, bob := a.newTenant(t, "bob")
	alice.expect(alice.do("PUT", "/secrets/db", map[string]any{"value": "alice-value"}), 201)
	bob.expect(bob.do("PUT", "/secrets/db", map[string]any{"value": "bob-value"}), 201)
	longA := alice.expect(alice.do("POST", "/did-registrar/dids", didTemplate), 201).body["longFormDid"].(string)

	t.Run("every tenant endpoint with the other tenant's ids", func(t *testing.T) {
		bob := bob.on(t)
		for _, c := range []struct{ method, path string }{
			{"GET", "/wallets/" + walletA},
			{"GET", "/did-registrar/dids/" + longA},
			{"POST", "/did-registrar/dids/" + longA + "/signatures"},
		} {
			var body any
			if c.method == "POST" {
				body = map[string]any{"keyId": "auth-1", "payload": "eA"}
			}
			bob.expect(bob.do(c.method, c.path, body), 404)
		}
		if r := bob.expect(bob.do("GET", "/secrets/db", nil), 200); r.body["value"] != "bob-value" {
			t.Fatalf("bob reads %s", r.raw)
		}
	})

	t.Run("Vault refuses wallet A's token on B's secrets", func(t *testing.T) {
		tokA := walletToken(t, v, walletA)
		if s, err := tokA.KVv2("secret").Get(t.Context(), walletA+"/seed"); err != nil || s.Data["value"] == "" {
			t.Fatalf("wallet A's token cannot read A's seed: %v", err)
		}
		if _, err := tokA.KVv2("secret").Get(t.Context(), walletB+"/seed"); !isForbidden(err) {
			t.Fatalf("wallet A's token reading B's seed: %v, want 403", err)
		}
		if _, err := tokA.KVv2("secret").Get(t.Context(), walletB+"/generic-secrets/db"); !isForbidden(err) {
			t.Fatalf("wallet A's token reading B's secret: %v, want 403", err)
		}
	})

	t.Run("the agent's own token reads no wallet secret", func(t *testing.T) {
		c := v.Client(t)
		login, err := c.Logical().Write("auth/approle/login",
			map[string]any{"role_id": boot.RoleID, "secret_id": boot.SecretID})
		if err != nil {
			t.Fatal(err)
		}
		agentClient, _ := c.Clone()
		agentClient.SetToken(login.Auth.ClientToken)
		for _, p := range []string{walletA + "/seed", walletB + "/generic-secrets/db",
			"00000000-0000-0000-0000-000000000000/seed"} {
			if _, err := agentClient.KVv2("secret").Get(t.Context(), p); !isForbidden(err) {
				t.Fatalf("agent token reading %s: %v, want 403", p, err)
			}
		}
	})

	t.Run("bootstrap again changes nothing", func(t *testing.T) {
		r, err := bootstrap.Run(t.Context(), v.Client(t), bootstrap.Options{})
		if err != nil || len(r.Changes) != 0 {
			t.Fatalf("second bootstrap: %v %v", r, err)
		}
		alice.on(t).expect(alice.on(t).do("GET", "/secrets/db", nil), 200)
	})

	t.Run("a disabled wallet", func(t *testing.T) {
		adm := a.admin(t)
		tokA := walletToken(t, v, walletA)
		adm.expect(adm.do("POST", "/wallets/"+walletA+"/disable", nil), 200)
		alice.on(t).expect(alice.on(t).do("GET", "/secrets/db", nil), 401)
		if _, err := tokA.KVv2("secret").Get(t.Context(), walletA+"/seed"); !isForbidden(err) {
			t.Fatalf("a disabled wallet's token reading its seed: %v, want 403", err)
		}
		bob.on(t).expect(bob.on(t).do("GET", "/secrets/db", nil), 200)
		adm.expect(adm.do("POST", "/wallets/"+walletA+"/enable", nil), 200)
		if r := alice.on(t).expect(alice.on(t).do("GET", "/secrets/db", nil), 200); r.body["value"] != "alice-value" {
			t.Fatalf("after enable: %s", r.raw)
		}
	})

	t.Run("one mint per wallet per token lifetime", func(t *testing.T) {
		before := a.app.Tenancy.Stats()
		for i := 0; i < 20; i++ {
			bob.on(t).expect(bob.on(t).do("GET", "/secrets/db", nil), 200)
		}
		after := a.app.Tenancy.Stats()
		if after.Mints != before.Mints || after.Hits-before.Hits < 20 {
			t.Fatalf("20 reads: %d new mints, %d hits", after.Mints-before.Mints, after.Hits-before.Hits)
		}
	})
}

// TestThousandWallets creates 1,000 wallets in token-role mode and lists
// them page by page.
func TestThousandWallets(t *testing.T) {
	_, _, env := isolatedVault(t)
	a := startAgent(t, env)
	adm := a.admin(t)
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	created := map[string]bool{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			r := adm.do("POST", "/wallets", map[string]any{"name": "w" + strconv.Itoa(i)})
			if r.status != 201 {
				t.Errorf("wallet %d: %d %s", i, r.status, r.raw)
				return
			}
			mu.Lock()
			created[r.body["id"].(string)] = true
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	listed := map[string]bool{}
	next := "/wallets?offset=0&limit=100"
	pages := 0
	for next != "" {
		r := adm.expect(adm.do("GET", next, nil), 200)
		for _, w := range r.body["contents"].([]any) {
			listed[w.(map[string]any)["id"].(string)] = true
		}
		next, _ = r.body["next"].(string)
		pages++
	}
	for id := range created {
		if !listed[id] {
			t.Fatalf("wallet %s not listed", id)
		}
	}
	if len(listed) != n+1 || pages != 11 { // the default wallet is the 1,001st
		t.Fatalf("%d wallets listed over %d pages", len(listed), pages)
	}
}
