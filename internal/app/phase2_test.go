package app

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/testenv"
)

// agentPolicy is the policy the README gives for the agent mode.
func agentPolicy(t *testing.T) string {
	b, err := os.ReadFile("../../deploy/vault/agent-kv.hcl")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPhase2AppRole runs the agent on AppRole with tokens that live two
// seconds at most six, under continuous requests; then takes Vault away
// and brings it back. No request may fail while Vault is up, requests
// while it is down get 503 with Retry-After, and no acknowledged write is
// lost.
func TestPhase2AppRole(t *testing.T) {
	v := testenv.StartVaultPersistent(t)
	v.WritePolicy(t, "prism-agent-kv", agentPolicy(t))
	role := v.CreateAppRole(t, "approle", "prism-agent", map[string]any{
		"token_ttl": "2s", "token_max_ttl": "6s", "token_policies": "prism-agent-kv",
	})
	secretID := role.SecretID(t)
	a := startAgent(t, map[string]string{
		"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
		"VAULT_APPROLE_ROLE_ID": role.RoleID, "VAULT_APPROLE_SECRET_ID": secretID,
	})
	defer func() {
		if strings.Contains(a.logs.String(), secretID) {
			t.Error("the AppRole secret id appears in the logs")
		}
	}()

	var (
		mu    sync.Mutex
		acked = map[string]string{} // name -> value of acknowledged writes
	)
	load := func(d time.Duration, onStatus func(int)) {
		var wg sync.WaitGroup
		var seq atomic.Int64
		stop := time.Now().Add(d)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					n := "load/" + strconv.FormatInt(seq.Add(1), 10)
					val := fmt.Sprintf("value-%s", n)
					r := a.do("PUT", "/secrets/"+n, map[string]any{"value": val})
					onStatus(r.status)
					if r.status == 201 {
						mu.Lock()
						acked[n] = val
						mu.Unlock()
						onStatus(a.do("GET", "/secrets/"+n, nil).status)
					}
				}
			}()
		}
		wg.Wait()
	}

	var requests, failures atomic.Int64
	load(20*time.Second, func(status int) {
		requests.Add(1)
		if status != 200 && status != 201 {
			failures.Add(1)
		}
	})
	if failures.Load() != 0 || requests.Load() == 0 {
		t.Fatalf("%d of %d requests failed while Vault was up", failures.Load(), requests.Load())
	}
	t.Logf("%d requests over 20 s with AppRole token_ttl=2s, token_max_ttl=6s, no failure", requests.Load())

	// Take Vault away: requests get 503 with Retry-After, never anything else.
	v.Stop()
	var unavailable, other atomic.Int64
	load(3*time.Second, func(status int) {
		switch status {
		case 503:
			unavailable.Add(1)
		case 200, 201:
		default:
			other.Add(1)
		}
	})
	r := a.do("GET", "/secrets/anything", nil)
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("while Vault is down: status %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	a.expect(a.do("GET", "/_system/ready", nil), 503)
	if unavailable.Load() == 0 || other.Load() != 0 {
		t.Fatalf("while Vault was down: %d answers 503, %d other errors", unavailable.Load(), other.Load())
	}

	// Bring it back: the agent recovers by itself.
	v.Start()
	deadline := time.Now().Add(90 * time.Second)
	for a.do("GET", "/_system/ready", nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not recover after Vault came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.expect(a.do("PUT", "/secrets/after-outage", map[string]any{"value": "ok"}), 201)

	mu.Lock()
	defer mu.Unlock()
	for n, val := range acked {
		got := a.expect(a.do("GET", "/secrets/"+n, nil), 200)
		if got.body["value"] != val {
			t.Fatalf("acknowledged write %s lost: %s", n, got.raw)
		}
	}
	t.Logf("%d acknowledged writes all readable after the outage", len(acked))
}

// TestPhase2WrappedSecretID starts the agent with a response-wrapping
// token instead of the secret id.
func TestPhase2WrappedSecretID(t *testing.T) {
	v := testenv.StartVaultDev(t)
	v.WritePolicy(t, "prism-agent-kv", agentPolicy(t))
	role := v.CreateAppRole(t, "approle", "prism-agent-wrapped", map[string]any{
		"token_ttl": "1m", "token_policies": "prism-agent-kv",
	})
	a := startAgent(t, map[string]string{
		"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr, "DATABASE_URL": testenv.PostgresURL(t),
		"VAULT_APPROLE_ROLE_ID":                  role.RoleID,
		"VAULT_APPROLE_SECRET_ID_WRAPPING_TOKEN": role.WrappedSecretID(t, time.Minute),
	})
	a.expect(a.do("PUT", "/secrets/wrapped", map[string]any{"value": "ok"}), 201)
	a.expect(a.do("GET", "/secrets/wrapped", nil), 200)
}
