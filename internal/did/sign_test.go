package did

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// secp256k1 domain parameters (SEC 2), for a verifier written here with
// math/big so that ES256K signatures are checked independently of the
// signing library.
var (
	curveP, _  = new(big.Int).SetString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 16)
	curveN, _  = new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
	curveGx, _ = new(big.Int).SetString("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", 16)
	curveGy, _ = new(big.Int).SetString("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8", 16)
)

type point struct{ x, y *big.Int } // x == nil is the point at infinity

func mod(v *big.Int) *big.Int { return v.Mod(v, curveP) }

func add(a, b point) point {
	if a.x == nil {
		return b
	}
	if b.x == nil {
		return a
	}
	var l *big.Int
	if a.x.Cmp(b.x) == 0 {
		if new(big.Int).Add(a.y, b.y).Cmp(curveP) == 0 || a.y.Sign() == 0 {
			return point{}
		}
		// l = 3x² / 2y
		num := new(big.Int).Mul(big.NewInt(3), new(big.Int).Mul(a.x, a.x))
		den := new(big.Int).ModInverse(new(big.Int).Lsh(a.y, 1), curveP)
		l = mod(num.Mul(num, den))
	} else {
		num := new(big.Int).Sub(b.y, a.y)
		den := new(big.Int).ModInverse(mod(new(big.Int).Sub(b.x, a.x)), curveP)
		l = mod(num.Mul(num, den))
	}
	x := mod(new(big.Int).Sub(new(big.Int).Sub(new(big.Int).Mul(l, l), a.x), b.x))
	y := mod(new(big.Int).Sub(new(big.Int).Mul(l, new(big.Int).Sub(a.x, x)), a.y))
	return point{x, y}
}

func mul(k *big.Int, p point) point {
	r := point{}
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = add(r, r)
		if k.Bit(i) == 1 {
			r = add(r, p)
		}
	}
	return r
}

// decompress recovers y from a compressed point: y = sqrt(x³+7), p ≡ 3 mod 4.
func decompress(t *testing.T, c []byte) (*big.Int, *big.Int) {
	t.Helper()
	if len(c) != 33 || (c[0] != 2 && c[0] != 3) {
		t.Fatalf("not a compressed point: %x", c)
	}
	x := new(big.Int).SetBytes(c[1:])
	rhs := mod(new(big.Int).Add(new(big.Int).Exp(x, big.NewInt(3), curveP), big.NewInt(7)))
	exp := new(big.Int).Rsh(new(big.Int).Add(curveP, big.NewInt(1)), 2)
	y := new(big.Int).Exp(rhs, exp, curveP)
	if mod(new(big.Int).Mul(y, y)).Cmp(rhs) != 0 {
		t.Fatal("x is not on the curve")
	}
	if y.Bit(0) != uint(c[0]&1) {
		y.Sub(curveP, y)
	}
	return x, y
}

// verifyES256K checks an ES256K JWS against a JWK with the textbook ECDSA
// verification equation, and that S is in the lower half of the order. It
// returns the payload.
func verifyES256K(token string, jwk JWK) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, errors.New("signature is not 64 bytes of base64url")
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if r.Sign() <= 0 || r.Cmp(curveN) >= 0 || s.Sign() <= 0 || s.Cmp(curveN) >= 0 {
		return nil, errors.New("r or s out of range")
	}
	if s.Cmp(new(big.Int).Rsh(curveN, 1)) > 0 {
		return nil, errors.New("s is not low")
	}
	xb, _ := base64.RawURLEncoding.DecodeString(jwk.X)
	yb, _ := base64.RawURLEncoding.DecodeString(jwk.Y)
	q := point{new(big.Int).SetBytes(xb), new(big.Int).SetBytes(yb)}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	e := new(big.Int).SetBytes(h[:])
	w := new(big.Int).ModInverse(s, curveN)
	u1 := new(big.Int).Mod(new(big.Int).Mul(e, w), curveN)
	u2 := new(big.Int).Mod(new(big.Int).Mul(r, w), curveN)
	p := add(mul(u1, point{curveGx, curveGy}), mul(u2, q))
	if p.x == nil || new(big.Int).Mod(p.x, curveN).Cmp(r) != 0 {
		return nil, errors.New("ES256K signature does not verify")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
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
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
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
