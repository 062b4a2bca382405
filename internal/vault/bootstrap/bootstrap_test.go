package bootstrap

import (
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/testenv"
)

// The policies shipped for operators who configure Vault by hand must be
// the ones bootstrap writes.
func TestShippedPolicies(t *testing.T) {
	for file, want := range map[string]string{
		"../../../deploy/vault/prism-agent.hcl": AgentPolicy("prism-wallet", "prism-tenants-userpass",
			"prism-tenants-approle"),
		"../../../deploy/vault/prism-wallet.hcl":       WalletPolicy("secret"),
		"../../../deploy/vault/prism-tenant-login.hcl": TenantLoginPolicy("prism-tenant"),
	} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s differs from the policy bootstrap writes; regenerate it", file)
		}
	}
}

func TestRunIsIdempotent(t *testing.T) {
	v := testenv.StartVaultDev(t)
	c := v.Client(t)
	ctx := t.Context()

	first, err := Run(ctx, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Changes) == 0 || first.RoleID == "" || first.SecretID == "" {
		t.Fatalf("first run: %+v", first.Changes)
	}
	policies := map[string]string{}
	for _, name := range []string{"prism-agent", "prism-wallet", "prism-tenant-login"} {
		p, err := c.Sys().GetPolicy(name)
		if err != nil || p == "" {
			t.Fatalf("policy %s missing: %v", name, err)
		}
		policies[name] = p
	}
	roleBefore, _ := c.Logical().Read("auth/approle/role/prism-agent")
	tokenRoleBefore, _ := c.Logical().Read("auth/token/roles/prism-wallet")

	second, err := Run(ctx, c, Options{})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if len(second.Changes) != 0 || second.SecretID != "" || second.RoleID != first.RoleID {
		t.Fatalf("second run changed something: %v", second.Changes)
	}
	for name, before := range policies {
		if p, _ := c.Sys().GetPolicy(name); p != before {
			t.Errorf("policy %s changed", name)
		}
	}
	roleAfter, _ := c.Logical().Read("auth/approle/role/prism-agent")
	tokenRoleAfter, _ := c.Logical().Read("auth/token/roles/prism-wallet")
	if !matches(roleAfter.Data, roleBefore.Data) || !matches(tokenRoleAfter.Data, tokenRoleBefore.Data) {
		t.Error("the roles changed on the second run")
	}

	// The agent's token has no access to secret data.
	login, err := c.Logical().Write("auth/approle/login", map[string]any{
		"role_id": first.RoleID, "secret_id": first.SecretID})
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := c.Clone()
	agent.SetToken(login.Auth.ClientToken)
	caps, err := agent.Sys().CapabilitiesSelf("secret/data/any-wallet/seed")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(caps, ",") != "deny" {
		t.Fatalf("the agent's token has %v on wallet secrets", caps)
	}

	// A wrapped secret id on request.
	wrapped, err := Run(ctx, c, Options{NewSecretID: true, WrapTTL: 60e9})
	if err != nil {
		t.Fatal(err)
	}
	if wrapped.WrappingToken == "" || wrapped.SecretID != "" {
		t.Fatal("no wrapping token")
	}
}

func TestRunRefusesAKVv1Mount(t *testing.T) {
	v := testenv.StartVaultDev(t)
	c := v.Client(t)
	if err := c.Sys().Mount("kv1", &apiMountKV1); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), c, Options{KVMount: "kv1"}); err == nil ||
		!strings.Contains(err.Error(), "not KV version 2") {
		t.Fatalf("err = %v", err)
	}
}

var apiMountKV1 = api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}
