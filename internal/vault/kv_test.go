package vault_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/secret/secrettest"
	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault"
)

func TestKVContract(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	for _, tc := range []struct {
		name     string
		semantic bool
	}{
		{"ok/semantic-paths", true},
		{"ok/hashed-paths", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger(t)
			mount := v.NewKVMount(t)
			c := newClient(t, vault.Config{
				Addr: v.Addr, Token: v.RootToken, KVMount: mount, SemanticPaths: tc.semantic,
			}, logger)
			secrettest.Run(t, func(t *testing.T) secret.Store { return c.KV() })
			assertNoSecrets(t, logs, v.RootToken)
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestKVLayout checks where secrets land in Vault, through the raw API.
func TestKVLayout(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	root := v.Client(t)
	logger, _ := newLogger(t)

	names := []string{
		"team/db/password",
		"zero\u200bwidth",             // not printable: Vault refuses it as metadata
		strings.Repeat("é", 256),      // 512 bytes, printable
		strings.Repeat("\u00a0", 256), // 512 bytes, not printable
		strings.Repeat("n", 512),      // the longest name
		"plain",
	}

	t.Run("ok/hashed", func(t *testing.T) {
		mount := v.NewKVMount(t)
		c := newClient(t, vault.Config{Addr: v.Addr, Token: v.RootToken, KVMount: mount}, logger)
		kv := c.KV()
		dir := "w1/generic-secrets"
		for _, name := range names {
			p := secret.Path{Dir: dir, Name: name}
			if _, err := kv.Put(t.Context(), p, "value of "+name, secret.PutOptions{}); err != nil {
				t.Fatalf("Put(%.20q): %v", name, err)
			}
			raw := dir + "/" + sha256Hex(name)
			data, err := root.Logical().Read(mount + "/data/" + raw)
			if err != nil || data == nil {
				t.Fatalf("raw read of %s: %v (nil: %t)", raw, err, data == nil)
			}
			got := data.Data["data"].(map[string]any)["value"]
			if got != "value of "+name {
				t.Fatalf("raw value at the hashed path = %q", got)
			}
			md, err := kv.Metadata(t.Context(), p)
			if err != nil || md.Name != name {
				t.Fatalf("Metadata(%.20q): name %.20q, error %v", name, md.Name, err)
			}
		}

		// A printable name is kept verbatim in custom_metadata.
		meta, err := root.Logical().Read(mount + "/metadata/" + dir + "/" + sha256Hex("team/db/password"))
		if err != nil || meta == nil {
			t.Fatalf("raw metadata read: %v", err)
		}
		cm, _ := meta.Data["custom_metadata"].(map[string]any)
		if cm["name"] != "team/db/password" {
			t.Fatalf("custom_metadata = %v, want name team/db/password", cm)
		}
		// No semantic path was written.
		if s, err := root.Logical().Read(mount + "/data/" + dir + "/team/db/password"); err != nil || s != nil {
			t.Fatalf("semantic path exists in hashed mode (err %v)", err)
		}

		got, err := kv.List(t.Context(), dir)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		want := slices.Clone(names)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
	})

	t.Run("ok/semantic", func(t *testing.T) {
		mount := v.NewKVMount(t)
		c := newClient(t, vault.Config{
			Addr: v.Addr, Token: v.RootToken, KVMount: mount, SemanticPaths: true,
		}, logger)
		p := secret.Path{Dir: "w1/generic-secrets", Name: "team/db/password"}
		if _, err := c.KV().Put(t.Context(), p, "pw", secret.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		s, err := root.Logical().Read(mount + "/data/w1/generic-secrets/team/db/password")
		if err != nil || s == nil {
			t.Fatalf("raw read of the semantic path: %v", err)
		}
		if got := s.Data["data"].(map[string]any)["value"]; got != "pw" {
			t.Fatalf("raw value = %q, want pw", got)
		}
	})

	t.Run("fail/foreign-entries-not-listed", func(t *testing.T) {
		// Entries that a hashed store did not write (no name, or a name that
		// does not hash to the key) are not reported as names.
		mount := v.NewKVMount(t)
		c := newClient(t, vault.Config{Addr: v.Addr, Token: v.RootToken, KVMount: mount}, logger)
		dir := "w2/generic-secrets"
		write := func(key string, name string) {
			t.Helper()
			if _, err := root.Logical().Write(mount+"/data/"+dir+"/"+key,
				map[string]any{"data": map[string]any{"value": "x"}}); err != nil {
				t.Fatalf("raw write: %v", err)
			}
			if name != "" {
				if _, err := root.Logical().Write(mount+"/metadata/"+dir+"/"+key,
					map[string]any{"custom_metadata": map[string]any{"name": name}}); err != nil {
					t.Fatalf("raw metadata write: %v", err)
				}
			}
		}
		write("plain-key", "")
		write(sha256Hex("a"), "b")
		got, err := c.KV().List(t.Context(), dir)
		if err != nil || len(got) != 0 {
			t.Fatalf("List = %q, %v; want none", got, err)
		}
	})
}

// TestKVPolicy runs the store with non-root tokens limited by a policy.
func TestKVPolicy(t *testing.T) {
	v := testenv.SharedVaultDev(t)
	mount := v.NewKVMount(t)
	policy := randomName(t, "narrow")
	v.WritePolicy(t, policy, `
path "`+mount+`/data/allowed/*"     { capabilities = ["create", "read", "update"] }
path "`+mount+`/metadata/allowed/*" { capabilities = ["create", "read", "update", "list"] }
path "`+mount+`/delete/allowed/*"   { capabilities = ["update"] }
`)
	token := v.CreateToken(t, &api.TokenCreateRequest{Policies: []string{policy, "default"}, TTL: "1h"})
	logger, logs := newLogger(t)

	allowed := secret.Path{Dir: "allowed/generic-secrets", Name: "ok"}
	denied := secret.Path{Dir: "denied-wallet/generic-secrets", Name: "nope"}
	ctx := t.Context()

	stores := []struct {
		name  string
		store func(t *testing.T) secret.Store
	}{
		{"agent-token", func(t *testing.T) secret.Store {
			return newClient(t, vault.Config{Addr: v.Addr, Token: token, KVMount: mount}, logger).KV()
		}},
		{"with-token", func(t *testing.T) secret.Store {
			c := newClient(t, vault.Config{Addr: v.Addr, Token: v.RootToken, KVMount: mount}, logger)
			return c.KVWithToken(token)
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			kv := st.store(t)
			t.Run("ok/allowed", func(t *testing.T) {
				if _, err := kv.Put(ctx, allowed, "v", secret.PutOptions{}); err != nil {
					t.Fatalf("Put: %v", err)
				}
				if got, err := kv.Get(ctx, allowed, 0); err != nil || got.Value != "v" {
					t.Fatalf("Get = %+v, %v", got, err)
				}
				if err := kv.Delete(ctx, allowed); err != nil {
					t.Fatalf("Delete: %v", err)
				}
			})
			calls := []struct {
				name string
				call func() error
			}{
				{"fail/put", func() error { _, err := kv.Put(ctx, denied, "v", secret.PutOptions{}); return err }},
				{"fail/get", func() error { _, err := kv.Get(ctx, denied, 0); return err }},
				{"fail/metadata", func() error { _, err := kv.Metadata(ctx, denied); return err }},
				{"fail/delete", func() error { return kv.Delete(ctx, denied) }},
				{"fail/list", func() error { _, err := kv.List(ctx, denied.Dir); return err }},
				{"fail/destroy", func() error { return kv.Destroy(ctx, allowed, 1) }},
			}
			for _, tc := range calls {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.call()
					if !errors.Is(err, secret.ErrForbidden) {
						t.Fatalf("got %v, want %v", err, secret.ErrForbidden)
					}
					if strings.Contains(err.Error(), "denied-wallet") || strings.Contains(err.Error(), mount) {
						t.Fatalf("error %q names the path", err)
					}
				})
			}
		})
	}

	t.Run("fail/invalid-token", func(t *testing.T) {
		c := newClient(t, vault.Config{Addr: v.Addr, Token: v.RootToken, KVMount: mount}, logger)
		bogus := "hvs.not-a-real-token-" + randomName(t, "x")
		_, err := c.KVWithToken(bogus).Get(ctx, allowed, 0)
		if !errors.Is(err, vault.ErrInvalidToken) || !errors.Is(err, secret.ErrUnavailable) {
			t.Fatalf("got %v, want %v and %v", err, vault.ErrInvalidToken, secret.ErrUnavailable)
		}
		if strings.Contains(err.Error(), bogus) {
			t.Fatalf("error %q contains the token", err)
		}
	})

	t.Run("fail/new-with-invalid-token", func(t *testing.T) {
		bogus := "hvs.not-a-real-token-" + randomName(t, "x")
		_, err := vault.New(ctx, vault.Config{Addr: v.Addr, Token: bogus, KVMount: mount}, logger)
		if !errors.Is(err, vault.ErrInvalidToken) {
			t.Fatalf("New with an invalid token: got %v, want %v", err, vault.ErrInvalidToken)
		}
		if strings.Contains(err.Error(), bogus) {
			t.Fatalf("error %q contains the token", err)
		}
		assertNoSecrets(t, logs, bogus)
	})
	assertNoSecrets(t, logs, token, v.RootToken)
}
