package app

import (
	"os"
	"strings"
	"testing"
)

const testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func (a *agent) admin(t *testing.T) *agent {
	b := a.on(t)
	tok, err := os.ReadFile(a.app.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	b.apiKey = ""
	b.adminToken = strings.TrimSpace(string(tok))
	return b
}

func (a *agent) tenant(t *testing.T, key string) *agent {
	b := a.on(t)
	b.apiKey, b.adminToken = key, ""
	return b
}

// newTenant creates a wallet, an entity and an API key through the API.
func (a *agent) newTenant(t *testing.T, name string) (walletID string, tenant *agent) {
	t.Helper()
	adm := a.admin(t)
	w := adm.expect(adm.do("POST", "/wallets", map[string]any{"name": name}), 201)
	walletID = w.body["id"].(string)
	e := adm.expect(adm.do("POST", "/iam/entities", map[string]any{"name": name, "walletId": walletID}), 201)
	key := "key-" + name + "-0123456789abcdef"
	adm.expect(adm.do("POST", "/iam/apikey-authentication",
		map[string]any{"entityId": e.body["id"], "apiKey": key}), 201)
	return walletID, a.tenant(t, key)
}

func TestIAM(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := startAgent(t, b.env(t))
			adm := a.admin(t)

			t.Run("wallets", func(t *testing.T) {
				adm := adm.on(t)
				hexSeed := strings.Repeat("7f", 64)
				id := "3f0e8f5a-6a53-4c59-9a0e-3c1b1c8a4d21"
				adm.expect(adm.do("POST", "/wallets", map[string]any{"name": "hex", "seed": hexSeed, "id": id}), 201)
				adm.expect(adm.do("POST", "/wallets", map[string]any{"name": "mnemonic", "seed": testMnemonic,
					"passphrase": "TREZOR"}), 201)
				before := adm.expect(adm.do("GET", "/wallets", nil), 200).body["contents"].([]any)

				for _, c := range []struct {
					name   string
					body   map[string]any
					status int
				}{
					{"fail/duplicate id", map[string]any{"name": "x", "id": id}, 409},
					{"fail/duplicate seed", map[string]any{"name": "x", "seed": hexSeed}, 409},
					{"fail/duplicate mnemonic seed", map[string]any{"name": "x", "seed": testMnemonic,
						"passphrase": "TREZOR"}, 409},
					{"fail/short seed", map[string]any{"name": "x", "seed": "abcd"}, 400},
					{"fail/bad checksum", map[string]any{"name": "x",
						"seed": strings.Replace(testMnemonic, "about", "abandon", 1)}, 400},
					{"fail/unknown word", map[string]any{"name": "x",
						"seed": strings.Replace(testMnemonic, "about", "zzzz", 1)}, 400},
					{"fail/passphrase with hex", map[string]any{"name": "x", "seed": strings.Repeat("01", 64),
						"passphrase": "p"}, 400},
					{"fail/bad id", map[string]any{"name": "x", "id": "../../etc"}, 400},
					{"fail/no name", map[string]any{}, 400},
				} {
					t.Run(c.name, func(t *testing.T) {
						r := adm.on(t).expect(adm.on(t).do("POST", "/wallets", c.body), c.status)
						if s, ok := c.body["seed"].(string); ok && strings.Contains(r.raw, s) {
							t.Fatal("the error echoes the seed")
						}
					})
				}
				after := adm.expect(adm.do("GET", "/wallets", nil), 200).body["contents"].([]any)
				if len(after) != len(before) {
					t.Fatalf("refused requests created wallets: %d -> %d", len(before), len(after))
				}
				adm.expect(adm.do("GET", "/wallets/"+id, nil), 200)
				adm.expect(adm.do("GET", "/wallets/7b3c5c3e-0000-4000-8000-000000000000", nil), 404)
			})

			t.Run("tenants are isolated", func(t *testing.T) {
				walletA, alice := a.newTenant(t, "alice")
				walletB, bob := a.newTenant(t, "bob")
				alice.expect(alice.do("PUT", "/secrets/shared-name", map[string]any{"value": "alice-secret"}), 201)
				bob.expect(bob.do("GET", "/secrets/shared-name", nil), 404)
				bob.expect(bob.do("GET", "/secrets/shared-name/metadata", nil), 404)
				bob.expect(bob.do("DELETE", "/secrets/shared-name", nil), 404)
				bob.expect(bob.do("POST", "/secrets/shared-name/destroy", nil), 404)
				bob.expect(bob.do("PUT", "/secrets/shared-name", map[string]any{"value": "bob"}), 201)
				if r := alice.expect(alice.do("GET", "/secrets/shared-name", nil), 200); r.body["value"] != "alice-secret" ||
					r.body["version"].(float64) != 1 {
					t.Fatalf("bob's write reached alice: %s", r.raw)
				}
				// A tenant sees its own wallet only; another wallet's id is unknown.
				alice.expect(alice.do("GET", "/wallets/"+walletA, nil), 200)
				other := alice.expect(alice.do("GET", "/wallets/"+walletB, nil), 404)
				unknown := alice.expect(alice.do("GET", "/wallets/7b3c5c3e-0000-4000-8000-000000000001", nil), 404)
				if other.body["detail"] != unknown.body["detail"] {
					t.Error("another wallet's id answers differently from an unknown id")
				}
				list := alice.expect(alice.do("GET", "/wallets", nil), 200)
				if c := list.body["contents"].([]any); len(c) != 1 || c[0].(map[string]any)["id"] != walletA {
					t.Fatalf("tenant wallet list = %s", list.raw)
				}
				// Tenants cannot administer.
				alice.expect(alice.do("POST", "/wallets", map[string]any{"name": "x"}), 401)
				alice.expect(alice.do("GET", "/iam/entities", nil), 401)
			})

			t.Run("entities and keys", func(t *testing.T) {
				adm := adm.on(t)
				walletID, carol := a.newTenant(t, "carol")
				carol.expect(carol.do("GET", "/secrets", nil), 200)
				ents := adm.expect(adm.do("GET", "/iam/entities?limit=1000", nil), 200)
				var entityID string
				for _, e := range ents.body["contents"].([]any) {
					if m := e.(map[string]any); m["walletId"] == walletID {
						entityID = m["id"].(string)
					}
				}
				if entityID == "" {
					t.Fatalf("carol's entity not listed: %s", ents.raw)
				}
				adm.expect(adm.do("PUT", "/iam/entities/"+entityID+"/name", map[string]any{"name": "carol2"}), 200)
				if r := adm.expect(adm.do("GET", "/iam/entities/"+entityID, nil), 200); r.body["name"] != "carol2" {
					t.Fatalf("rename = %s", r.raw)
				}
				// A key belongs to one entity only.
				e2 := adm.expect(adm.do("POST", "/iam/entities", map[string]any{"name": "x", "walletId": walletID}), 201)
				adm.expect(adm.do("POST", "/iam/apikey-authentication",
					map[string]any{"entityId": e2.body["id"], "apiKey": carol.apiKey}), 409)
				adm.expect(adm.do("POST", "/iam/apikey-authentication",
					map[string]any{"entityId": e2.body["id"], "apiKey": "short"}), 400)
				adm.expect(adm.do("POST", "/iam/entities", map[string]any{"name": "x",
					"walletId": "7b3c5c3e-0000-4000-8000-000000000002"}), 400)
				// A deleted key fails at once.
				adm.expect(adm.do("DELETE", "/iam/apikey-authentication",
					map[string]any{"entityId": entityID, "apiKey": carol.apiKey}), 204)
				carol.expect(carol.do("GET", "/secrets", nil), 401)
				adm.expect(adm.do("DELETE", "/iam/entities/"+entityID, nil), 204)
				adm.expect(adm.do("GET", "/iam/entities/"+entityID, nil), 404)
				adm.expect(adm.do("GET", "/iam/entities", nil, "x-admin-api-key", "wrong-admin-token-123"), 401)
			})
		})
	}
}
