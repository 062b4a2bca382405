package app

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tyler-smith/go-bip39"
)

// flowSecrets are the secret values one API flow uses; none of them may
// reach a log line.
type flowSecrets struct {
	adminToken, defaultAPIKey, defaultSeed string
	seed                                   []byte
	mnemonic, passphrase                   string
	apiKey                                 string
	values                                 []string
	payload                                []byte
	jws                                    string
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newFlowSecrets(t *testing.T) *flowSecrets {
	t.Helper()
	entropy, err := bip39.NewEntropy(256)
	if err != nil {
		t.Fatal(err)
	}
	mnemonic, err := bip39.NewMnemonic(entropy)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := hex.DecodeString(randomHex(t, 64))
	payload, _ := hex.DecodeString(randomHex(t, 32))
	return &flowSecrets{
		adminToken: "admin-" + randomHex(t, 20), defaultAPIKey: "default-" + randomHex(t, 20),
		defaultSeed: randomHex(t, 64), seed: seed, mnemonic: mnemonic,
		passphrase: "pass-" + randomHex(t, 8), apiKey: "tenant-" + randomHex(t, 20),
		values:  []string{"value1-" + randomHex(t, 12), "value2-" + randomHex(t, 12)},
		payload: payload,
	}
}

// env configures an agent on the embedded stores with the flow's admin
// token, default wallet key and seed.
func (s *flowSecrets) env() map[string]string {
	return map[string]string{"ADMIN_TOKEN": s.adminToken,
		"DEFAULT_WALLET_AUTH_API_KEY": s.defaultAPIKey, "DEFAULT_WALLET_SEED": s.defaultSeed}
}

// flowClient calls one agent and fails the test on an unexpected status.
type flowClient struct {
	t      *testing.T
	base   string
	client *http.Client
}

type flowResponse struct {
	status int
	header http.Header
	body   map[string]any
}

func newFlowClient(t *testing.T, a *App, rt http.RoundTripper) *flowClient {
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &flowClient{t: t, base: srv.URL, client: &http.Client{Transport: rt}}
}

// call sends body (nil, or a value encoded as JSON) with headers given as
// name, value pairs, and checks the status.
func (c *flowClient) call(method, path string, body any, status int, headers ...string) flowResponse {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, raw)
	}
	r := flowResponse{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// runFlow drives the whole API once: wallets as the operator (one from a
// hex seed, one from a mnemonic), an entity and its API key, generic
// secrets with versions, a DID and a signature, failures of each kind, and
// the system endpoints. It records the JWS it got in s.
func runFlow(t *testing.T, c *flowClient, s *flowSecrets) {
	admin := []string{"x-admin-api-key", s.adminToken}
	c.call("GET", "/_system/health", nil, 200)
	c.call("GET", "/_system/ready", nil, 200)

	seedHex := hex.EncodeToString(s.seed)
	w := c.call("POST", "/wallets", map[string]any{"name": "flow", "seed": seedHex}, 201, admin...)
	walletID := w.body["id"].(string)
	c.call("POST", "/wallets", map[string]any{"name": "again", "seed": seedHex}, 409, admin...)
	c.call("POST", "/wallets", map[string]any{"name": "short", "seed": seedHex[:127]}, 400, admin...)
	c.call("POST", "/wallets", map[string]any{"name": "words", "seed": s.mnemonic,
		"passphrase": s.passphrase}, 201, admin...)
	c.call("POST", "/wallets", map[string]any{"name": "x"}, 401)
	c.call("POST", "/wallets", map[string]any{"name": "x"}, 401, "x-admin-api-key", s.apiKey)
	c.call("GET", "/wallets", nil, 200, admin...)
	c.call("GET", "/wallets/"+walletID, nil, 200, admin...)
	// Tenant Vault credentials and the token exchange need Vault; on the
	// embedded stores they are refused (phase3_test covers them on Vault).
	c.call("POST", "/wallets/"+walletID+"/vault-credentials", map[string]any{"type": "approle"}, 422,
		admin...)
	c.call("POST", "/oauth2/token", map[string]any{"grant_type": "password", "username": "alice",
		"password": "not-used"}, 422)

	e := c.call("POST", "/iam/entities", map[string]any{"name": "flow", "walletId": walletID},
		201, admin...)
	entityID := e.body["id"].(string)
	c.call("GET", "/iam/entities", nil, 200, admin...)
	c.call("GET", "/iam/entities/"+entityID, nil, 200, admin...)
	c.call("PUT", "/iam/entities/"+entityID+"/name", map[string]any{"name": "renamed"}, 200,
		admin...)
	key := map[string]any{"entityId": entityID, "apiKey": s.apiKey}
	c.call("POST", "/iam/apikey-authentication", key, 201, admin...)
	c.call("POST", "/iam/apikey-authentication", key, 409, admin...)

	tenant := []string{"apikey", s.apiKey}
	c.call("GET", "/wallets", nil, 200, tenant...)
	c.call("GET", "/wallets/"+walletID, nil, 200, tenant...)
	c.call("PUT", "/secrets/db/password", map[string]any{"value": s.values[0]}, 201, tenant...)
	c.call("PUT", "/secrets/db/password", map[string]any{"value": s.values[1], "cas": 1}, 200,
		tenant...)
	c.call("PUT", "/secrets/db/password", map[string]any{"value": s.values[1], "cas": 1}, 409,
		tenant...)
	got := c.call("GET", "/secrets/db/password?version=1", nil, 200, tenant...)
	if got.body["value"] != s.values[0] {
		t.Fatalf("version 1 reads back wrong")
	}
	c.call("GET", "/secrets/db/password", nil, 200, tenant...)
	c.call("GET", "/secrets/db/password/metadata", nil, 200, tenant...)
	c.call("GET", "/secrets?limit=10", nil, 200, tenant...)
	c.call("DELETE", "/secrets/db/password", nil, 204, tenant...)
	c.call("GET", "/secrets/db/password", nil, 404, tenant...)
	c.call("POST", "/secrets/db/password/undelete", nil, 204, tenant...)
	c.call("POST", "/secrets/db/password/destroy", map[string]any{"versions": []int{1}}, 204,
		tenant...)
	c.call("GET", "/secrets/db/password", nil, 401, "apikey", s.apiKey+"x",
		"X-Request-Id", "flow-request-1")

	d := c.call("POST", "/did-registrar/dids", didTemplate, 201, tenant...)
	long := d.body["longFormDid"].(string)
	short := long[:strings.LastIndex(long, ":")]
	c.call("GET", "/did-registrar/dids", nil, 200, tenant...)
	c.call("GET", "/did-registrar/dids/"+short, nil, 200, tenant...)
	c.call("POST", "/did-registrar/dids", map[string]any{"documentTemplate": map[string]any{
		"publicKeys": []map[string]any{{"id": "k", "purpose": "keyAgreement", "curve": "Ed25519"}},
	}}, 422, tenant...)
	sig := c.call("POST", "/did-registrar/dids/"+short+"/signatures", map[string]any{
		"keyId": "auth-1", "payload": base64.RawURLEncoding.EncodeToString(s.payload)}, 200, tenant...)
	s.jws = sig.body["jws"].(string)
	c.call("GET", "/dids/"+long, nil, 200)
	c.call("GET", "/dids/"+short, nil, 404)

	c.call("POST", "/wallets/"+walletID+"/disable", nil, 200, admin...)
	c.call("GET", "/secrets", nil, 401, tenant...)
	c.call("POST", "/wallets/"+walletID+"/enable", nil, 200, admin...)
	c.call("DELETE", "/iam/apikey-authentication", key, 204, admin...)
	c.call("GET", "/secrets", nil, 401, tenant...)
	c.call("DELETE", "/iam/entities/"+entityID, nil, 204, admin...)

	c.call("GET", "/_system/metrics", nil, 200)
	c.call("GET", "/docs/openapi.yaml", nil, 200)
}
