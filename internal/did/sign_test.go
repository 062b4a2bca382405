package did

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/prism-agent/prism-agent/internal/did/didtest"
)

func verifyES256K(token string, jwk JWK) ([]byte, error) {
	return didtest.VerifyES256K(token, jwk.X, jwk.Y)
}

func decompress(t *testing.T, c []byte) (*big.Int, *big.Int) {
	t.Helper()
	x, y, err := didtest.Decompress(c)
	if err != nil {
		t.Fatal(err)
	}
	return x, y
}

func jwsHeaderOf(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func signingFixture(t *testing.T) (Created, *Document) {
	t.Helper()
	c, err := Create(specSeed, 3, Template{PublicKeys: []PublicKeyTemplate{
		{ID: "auth-1", Purpose: PurposeAuthentication},
		{ID: "issue-ed", Purpose: PurposeAssertionMethod, Curve: Ed25519},
		{ID: "ka-x", Purpose: PurposeKeyAgreement, Curve: X25519},
		{ID: "ka-k", Purpose: PurposeKeyAgreement},
		{ID: "inv-1", Purpose: PurposeCapabilityInvocation},
	}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ResolveDocument(c.LongForm)
	if err != nil {
		t.Fatal(err)
	}
	return c, doc
}

func jwkOf(t *testing.T, doc *Document, ref string) JWK {
	t.Helper()
	for _, vm := range doc.VerificationMethod {
		if vm.ID == ref {
			return vm.PublicKeyJwk
		}
	}
	t.Fatalf("no verification method %s", ref)
	return JWK{}
}

func TestSignES256K(t *testing.T) {
	c, doc := signingFixture(t)
	payloads := map[string][]byte{"ok/json": []byte(`{"hello":"world"}`), "ok/empty": {},
		"ok/binary": {0, 1, 2, 0xff}}
	for name, payload := range payloads {
		for kind, form := range map[string]string{"short-form": c.ShortForm, "long-form": c.LongForm} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				token, err := Sign(specSeed, form, c.Layout, "auth-1", payload)
				if err != nil {
					t.Fatal(err)
				}
				h := jwsHeaderOf(t, token)
				if h["alg"] != "ES256K" || h["kid"] != form+"#auth-1" || len(h) != 2 {
					t.Fatalf("header %v", h)
				}
				got, err := verifyES256K(token, jwkOf(t, doc, c.LongForm+"#auth-1"))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(payload) {
					t.Fatalf("payload %q", got)
				}
			})
		}
	}
	t.Run("ok/capability-invocation", func(t *testing.T) {
		token, err := Sign(specSeed, c.ShortForm, c.Layout, "inv-1", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifyES256K(token, jwkOf(t, doc, c.LongForm+"#inv-1")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/other-key-does-not-verify", func(t *testing.T) {
		token, err := Sign(specSeed, c.ShortForm, c.Layout, "inv-1", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		// The independent verifier must reject a signature under the wrong
		// key and a tampered payload.
		if _, err := verifyES256K(token, jwkOf(t, doc, c.LongForm+"#auth-1")); err == nil {
			t.Fatal("verifier accepted a signature under another key")
		}
		parts := strings.Split(token, ".")
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("y")) + "." + parts[2]
		if _, err := verifyES256K(tampered, jwkOf(t, doc, c.LongForm+"#inv-1")); err == nil {
			t.Fatal("verifier accepted a tampered payload")
		}
	})
}

func TestSignEdDSA(t *testing.T) {
	c, doc := signingFixture(t)
	payload := []byte("credential payload")
	token, err := Sign(specSeed, c.LongForm, c.Layout, "issue-ed", payload)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jwkOf(t, doc, c.LongForm+"#issue-ed")
	x, err := base64.RawURLEncoding.DecodeString(jwk.X)
	if err != nil || jwk.Kty != "OKP" || jwk.Crv != "Ed25519" {
		t.Fatalf("JWK %+v (%v)", jwk, err)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose cannot parse the JWS: %v", err)
	}
	got, err := jws.Verify(ed25519.PublicKey(x))
	if err != nil {
		t.Fatalf("go-jose rejects the signature: %v", err)
	}
	if string(got) != string(payload) {
		t.Fatalf("payload %q", got)
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != c.LongForm+"#issue-ed" {
		t.Fatalf("kid %s", kid)
	}
	// Deterministic: Ed25519 signatures repeat for the same input.
	again, _ := Sign(specSeed, c.LongForm, c.Layout, "issue-ed", payload)
	if again != token {
		t.Fatal("EdDSA signature is not deterministic")
	}
	other := make([]byte, 32)
	copy(other, x)
	other[0] ^= 1
	if _, err := jws.Verify(ed25519.PublicKey(other)); err == nil {
		t.Fatal("go-jose accepted the signature under another key")
	}
}

func TestSignErrors(t *testing.T) {
	c, _ := signingFixture(t)
	wrongSeed := append([]byte(nil), specSeed...)
	wrongSeed[0] ^= 1
	other, err := Create(specSeed, 4, Template{PublicKeys: []PublicKeyTemplate{{ID: "auth-1", Purpose: PurposeAuthentication}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, did, key string
		seed           []byte
		want           error
	}{
		{"fail/x25519", c.ShortForm, "ka-x", specSeed, ErrKeyCannotSign},
		{"fail/secp256k1-key-agreement", c.ShortForm, "ka-k", specSeed, ErrKeyCannotSign},
		{"fail/master", c.ShortForm, MasterKeyID, specSeed, ErrKeyCannotSign},
		{"fail/unknown-key", c.ShortForm, "nope", specSeed, ErrKeyNotFound},
		{"fail/other-did", other.ShortForm, "auth-1", specSeed, ErrKeyNotFound},
		{"fail/invalid-did", "did:prism:xyz", "auth-1", specSeed, ErrInvalidDID},
		{"fail/wrong-seed", c.ShortForm, "auth-1", wrongSeed, ErrKeyMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token, err := Sign(tc.seed, tc.did, c.Layout, tc.key, []byte("p"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v (token %q)", tc.want, err, token)
			}
		})
	}
}
