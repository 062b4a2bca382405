package app

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/prism-agent/prism-agent/internal/did/didtest"
	"github.com/prism-agent/prism-agent/internal/testenv"
)

var didTemplate = map[string]any{"documentTemplate": map[string]any{
	"publicKeys": []map[string]any{
		{"id": "auth-1", "purpose": "authentication"},
		{"id": "ed-1", "purpose": "assertionMethod", "curve": "Ed25519"},
		{"id": "x-1", "purpose": "keyAgreement", "curve": "X25519"},
	},
	"services": []map[string]any{{"id": "svc-1", "type": "LinkedDomains",
		"serviceEndpoint": "https://example.com/"}},
	"contexts": []string{},
}}

// jwkOf finds the public JWK of a key in a resolved DID document.
func jwkOf(t *testing.T, doc map[string]any, keyID string) map[string]any {
	t.Helper()
	for _, vm := range doc["verificationMethod"].([]any) {
		m := vm.(map[string]any)
		if strings.HasSuffix(m["id"].(string), "#"+keyID) {
			return m["publicKeyJwk"].(map[string]any)
		}
	}
	t.Fatalf("no verification method %s", keyID)
	return nil
}

func TestDIDs(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := startAgent(t, b.env(t))
			created := a.expect(a.do("POST", "/did-registrar/dids", didTemplate), 201)
			long := created.body["longFormDid"].(string)
			short := long[:strings.LastIndex(long, ":")]

			for _, ref := range []string{short, long} {
				r := a.expect(a.do("GET", "/did-registrar/dids/"+ref, nil), 200)
				if r.body["did"] != short || r.body["longFormDid"] != long || r.body["status"] != "CREATED" {
					t.Fatalf("managed DID = %s", r.raw)
				}
			}
			list := a.expect(a.do("GET", "/did-registrar/dids", nil), 200)
			if n := len(list.body["contents"].([]any)); n != 1 {
				t.Fatalf("list has %d DIDs", n)
			}

			res := a.expect(a.do("GET", "/dids/"+long, nil, "apikey", ""), 200)
			doc := res.body["didDocument"].(map[string]any)
			if doc["id"] != long || len(doc["authentication"].([]any)) != 1 ||
				len(doc["keyAgreement"].([]any)) != 1 || len(doc["service"].([]any)) != 1 {
				t.Fatalf("DID document = %s", res.raw)
			}
			a.expect(a.do("GET", "/dids/"+short, nil), 404)
			a.expect(a.do("GET", "/dids/did:prism:zz", nil), 400)

			payload := []byte(`{"claim":"value"}`)
			enc := base64.RawURLEncoding.EncodeToString(payload)
			t.Run("ES256K", func(t *testing.T) {
				a := a.on(t)
				r := a.expect(a.do("POST", "/did-registrar/dids/"+long+"/signatures",
					map[string]any{"keyId": "auth-1", "payload": enc}), 200)
				jws := r.body["jws"].(string)
				jwk := jwkOf(t, doc, "auth-1")
				got, err := didtest.VerifyES256K(jws, jwk["x"].(string), jwk["y"].(string))
				if err != nil || string(got) != string(payload) {
					t.Fatalf("ES256K signature does not verify: %v", err)
				}
				var header map[string]any
				h, _ := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[0])
				_ = json.Unmarshal(h, &header)
				if header["alg"] != "ES256K" || header["kid"] != long+"#auth-1" {
					t.Fatalf("header = %v", header)
				}
			})
			t.Run("EdDSA", func(t *testing.T) {
				a := a.on(t)
				r := a.expect(a.do("POST", "/did-registrar/dids/"+short+"/signatures",
					map[string]any{"keyId": "ed-1", "payload": enc}), 200)
				jwkJSON, _ := json.Marshal(jwkOf(t, doc, "ed-1"))
				var key jose.JSONWebKey
				if err := key.UnmarshalJSON(jwkJSON); err != nil {
					t.Fatal(err)
				}
				sig, err := jose.ParseSignedCompact(r.body["jws"].(string), []jose.SignatureAlgorithm{jose.EdDSA})
				if err != nil {
					t.Fatal(err)
				}
				got, err := sig.Verify(key)
				if err != nil || string(got) != string(payload) {
					t.Fatalf("EdDSA signature does not verify: %v", err)
				}
				if sig.Signatures[0].Header.KeyID != short+"#ed-1" {
					t.Fatalf("kid = %q", sig.Signatures[0].Header.KeyID)
				}
			})

			for _, c := range []struct {
				name   string
				path   string
				body   any
				status int
			}{
				{"fail/x25519 cannot sign", long + "/signatures", map[string]any{"keyId": "x-1", "payload": enc}, 422},
				{"fail/master key cannot sign", long + "/signatures", map[string]any{"keyId": "master0", "payload": enc}, 422},
				{"fail/unknown key", long + "/signatures", map[string]any{"keyId": "nope", "payload": enc}, 422},
				{"fail/bad payload", long + "/signatures", map[string]any{"keyId": "auth-1", "payload": "!!"}, 400},
				{"fail/no payload", long + "/signatures", map[string]any{"keyId": "auth-1"}, 400},
				{"fail/too much padding", long + "/signatures", map[string]any{"keyId": "auth-1", "payload": "aGVsbG8==="}, 400},
				{"fail/unknown DID", "did:prism:" + strings.Repeat("0", 64) + "/signatures",
					map[string]any{"keyId": "auth-1", "payload": enc}, 404},
				{"fail/reserved id", "", map[string]any{"documentTemplate": map[string]any{
					"publicKeys": []map[string]any{{"id": "master0", "purpose": "authentication"}}}}, 422},
				{"fail/duplicate ids", "", map[string]any{"documentTemplate": map[string]any{
					"publicKeys": []map[string]any{{"id": "k", "purpose": "authentication"},
						{"id": "k", "purpose": "assertionMethod"}}}}, 422},
				{"fail/curve not allowed", "", map[string]any{"documentTemplate": map[string]any{
					"publicKeys": []map[string]any{{"id": "k", "purpose": "authentication", "curve": "X25519"}}}}, 422},
				{"fail/bad service", "", map[string]any{"documentTemplate": map[string]any{
					"publicKeys": []map[string]any{{"id": "k", "purpose": "authentication"}},
					"services":   []map[string]any{{"id": "s", "type": "LinkedDomains", "serviceEndpoint": "not a uri"}}}}, 422},
				{"fail/no template", "", map[string]any{}, 400},
			} {
				t.Run(c.name, func(t *testing.T) {
					a := a.on(t)
					r := a.expect(a.do("POST", "/did-registrar/dids"+strings.TrimSuffix("/"+c.path, "/"), c.body), c.status)
					if c.status == 422 && r.body["detail"] == "" {
						t.Fatal("422 without detail")
					}
				})
			}
			// Failed creates allocated no DID.
			if n := len(a.expect(a.do("GET", "/did-registrar/dids", nil), 200).body["contents"].([]any)); n != 1 {
				t.Fatalf("after refused creates the wallet has %d DIDs", n)
			}

			t.Run("another wallet's DID is unknown", func(t *testing.T) {
				_, bob := a.newTenant(t, "bob-did")
				for _, ref := range []string{short, long} {
					other := bob.expect(bob.do("GET", "/did-registrar/dids/"+ref, nil), 404)
					unknown := bob.expect(bob.do("GET", "/did-registrar/dids/did:prism:"+strings.Repeat("1", 64), nil), 404)
					if other.raw[:strings.Index(other.raw, "instance")] != unknown.raw[:strings.Index(unknown.raw, "instance")] {
						t.Fatalf("answers differ: %s vs %s", other.raw, unknown.raw)
					}
					bob.expect(bob.do("POST", "/did-registrar/dids/"+ref+"/signatures",
						map[string]any{"keyId": "auth-1", "payload": enc}), 404)
				}
				if n := len(bob.expect(bob.do("GET", "/did-registrar/dids", nil), 200).body["contents"].([]any)); n != 0 {
					t.Fatalf("bob sees %d DIDs", n)
				}
			})
		})
	}
}

// TestDIDIndexAllocation creates 50 DIDs at once in one wallet, split over
// two agents sharing one PostgreSQL and one Vault: every DID gets its own
// did-index.
func TestDIDIndexAllocation(t *testing.T) {
	v := testenv.StartVaultDev(t)
	env := func() map[string]string {
		return map[string]string{"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
			"VAULT_TOKEN": v.RootToken, "DATABASE_URL": "", "PRISM_API_KEY_HASH_KEY": strings.Repeat("k", 32),
			"DEFAULT_WALLET_AUTH_API_KEY": "shared-tenant-key-0123456789"}
	}
	pg := testenv.PostgresURL(t)
	e1, e2 := env(), env()
	e1["DATABASE_URL"], e2["DATABASE_URL"] = pg, pg
	agents := []*agent{startAgent(t, e1), startAgent(t, e2)}

	var mu sync.Mutex
	dids := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(a *agent) {
			defer wg.Done()
			r := a.do("POST", "/did-registrar/dids", didTemplate)
			if r.status != 201 {
				t.Errorf("create: %d %s", r.status, r.raw)
				return
			}
			mu.Lock()
			dids[r.body["longFormDid"].(string)] = true
			mu.Unlock()
		}(agents[i%2])
	}
	wg.Wait()
	if len(dids) != 50 {
		t.Fatalf("%d distinct DIDs from 50 creates", len(dids))
	}
	indices, _, err := agents[0].app.Records.ListDIDs(t.Context(), "00000000-0000-0000-0000-000000000000",
		storePage(0, 100))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, d := range indices {
		seen[d.DIDIndex] = true
	}
	if len(indices) != 50 || len(seen) != 50 {
		t.Fatalf("%d records with %d distinct did-indices", len(indices), len(seen))
	}
}
