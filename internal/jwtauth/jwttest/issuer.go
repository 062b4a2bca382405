// Package jwttest runs an OpenID Connect token issuer for tests: an HTTP
// server publishing a discovery document and a JWKS, with RSA, ECDSA P-256
// and Ed25519 signing keys, that signs tokens with go-jose. It is the
// issuer independent of Vault that the agent's tests use for tenants'
// bearer JWTs, and it can also produce the malformed and forged tokens the
// negative tests need.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// WalletClaim is the claim Claims puts the wallet id in.
const WalletClaim = "wallet_id"

// Paths of the issuer's documents below its server's root.
const (
	issuerPath = "/oidc"
	jwksPath   = "/oidc/keys"
)

// Issuer is a running test issuer. Its methods are safe for concurrent use.
type Issuer struct {
	// URL is the issuer identifier ("iss"): the server's URL + "/oidc".
	// Discovery is at URL + "/.well-known/openid-configuration".
	URL string
	// JWKSURL is where the JWKS is served.
	JWKSURL string
	// Now is the clock of Claims; set it before use to share a test clock
	// with the verifier. Nil means time.Now.
	Now func() time.Time

	t   testing.TB
	srv *httptest.Server

	jwksFetches      atomic.Int64
	discoveryFetches atomic.Int64

	mu              sync.Mutex
	current         map[string]signingKey // by key kind: "RSA", "EC", "OKP"
	published       []jose.JSONWebKey     // public keys in the JWKS
	failing         bool
	cacheControl    string
	discoveryIssuer string
}

type signingKey struct {
	priv crypto.Signer
	kid  string
	alg  string // the JWK's "alg", "" for RSA so that RS* and PS* both fit
}

// NewIssuer starts an issuer with one RSA-2048, one ECDSA P-256 (alg ES256)
// and one Ed25519 (alg EdDSA) key, all published; it stops when the test
// ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{t: t, current: map[string]signingKey{}}
	iss.srv = httptest.NewServer(http.HandlerFunc(iss.serve))
	t.Cleanup(iss.srv.Close)
	iss.URL = iss.srv.URL + issuerPath
	iss.JWKSURL = iss.srv.URL + jwksPath
	iss.Rotate(false)
	return iss
}

func (iss *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	iss.mu.Lock()
	failing, cc, docIssuer := iss.failing, iss.cacheControl, iss.discoveryIssuer
	keys := append([]jose.JSONWebKey(nil), iss.published...)
	iss.mu.Unlock()

	var body any
	switch r.URL.Path {
	case issuerPath + "/.well-known/openid-configuration":
		iss.discoveryFetches.Add(1)
		if docIssuer == "" {
			docIssuer = iss.URL
		}
		body = map[string]any{
			"issuer":                                docIssuer,
			"jwks_uri":                              iss.JWKSURL,
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
		}
	case jwksPath:
		iss.jwksFetches.Add(1)
		body = jose.JSONWebKeySet{Keys: keys}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
	default:
		http.NotFound(w, r)
		return
	}
	if failing {
		http.Error(w, "issuer unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// Rotate replaces the three signing keys with new ones under new key ids.
// With keepOld the previous public keys stay in the JWKS (a rotation with
// overlap); without, they are removed and tokens they signed stop
// verifying.
func (iss *Issuer) Rotate(keepOld bool) {
	iss.t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		iss.t.Fatalf("generating RSA key: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		iss.t.Fatalf("generating EC key: %v", err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		iss.t.Fatalf("generating Ed25519 key: %v", err)
	}
	next := map[string]signingKey{
		"RSA": {priv: rsaKey, kid: "rsa-" + randomID(iss.t)},
		"EC":  {priv: ecKey, kid: "ec-" + randomID(iss.t), alg: "ES256"},
		"OKP": {priv: edKey, kid: "ed-" + randomID(iss.t), alg: "EdDSA"},
	}

	iss.mu.Lock()
	defer iss.mu.Unlock()
	if !keepOld {
		iss.published = nil
	}
	for _, kind := range []string{"RSA", "EC", "OKP"} {
		k := next[kind]
		iss.published = append(iss.published, jose.JSONWebKey{
			Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig",
		})
	}
	iss.current = next
}

// JWKSFetches returns how many times the JWKS was requested.
func (iss *Issuer) JWKSFetches() int { return int(iss.jwksFetches.Load()) }

// DiscoveryFetches returns how many times the discovery document was
// requested.
func (iss *Issuer) DiscoveryFetches() int { return int(iss.discoveryFetches.Load()) }

// SetFailing makes discovery and the JWKS answer 503 (true) or work again.
func (iss *Issuer) SetFailing(failing bool) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.failing = failing
}

// SetCacheControl sets the Cache-Control header of JWKS responses; "" sends
// none.
func (iss *Issuer) SetCacheControl(v string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.cacheControl = v
}

// SetDiscoveryIssuer makes the discovery document name another issuer than
// URL; "" restores URL.
func (iss *Issuer) SetDiscoveryIssuer(v string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.discoveryIssuer = v
}

// KeyID returns the key id of the current key that signs alg ("RS256",
// "PS256", "ES256", "EdDSA", ...).
func (iss *Issuer) KeyID(alg string) string { return iss.key(alg).kid }

// PublicKey returns the current public key that verifies alg.
func (iss *Issuer) PublicKey(alg string) crypto.PublicKey { return iss.key(alg).priv.Public() }

// PublicJWK returns the JSON of the current public JWK for alg, byte for
// byte as the JWKS serves it.
func (iss *Issuer) PublicJWK(alg string) []byte {
	iss.t.Helper()
	k := iss.key(alg)
	b, err := json.Marshal(jose.JSONWebKey{
		Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig",
	})
	if err != nil {
		iss.t.Fatalf("encoding JWK: %v", err)
	}
	return b
}

func (iss *Issuer) key(alg string) signingKey {
	iss.t.Helper()
	kind := ""
	switch {
	case strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS"):
		kind = "RSA"
	case alg == "ES256":
		kind = "EC"
	case alg == "EdDSA":
		kind = "OKP"
	default:
		iss.t.Fatalf("jwttest: the issuer has no key for %s", alg)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.current[kind]
}

// Claims returns valid claims for a token of walletID meant for aud:
// iss, sub, aud, wallet_id, jti, and iat and nbf now and exp in 5 minutes.
func (iss *Issuer) Claims(aud, walletID string) map[string]any {
	now := time.Now
	if iss.Now != nil {
		now = iss.Now
	}
	t := now().Unix()
	return map[string]any{
		"iss":       iss.URL,
		"sub":       "tenant-" + walletID,
		"aud":       aud,
		WalletClaim: walletID,
		"jti":       randomID(iss.t),
		"iat":       t,
		"nbf":       t,
		"exp":       t + 300,
	}
}

// SignOption changes how a token is signed.
type SignOption func(*signConfig)

type signConfig struct {
	alg     string
	kid     *string
	headers map[jose.HeaderKey]any
}

// WithAlgorithm signs with alg using the issuer's key for it (RS256 by
// default).
func WithAlgorithm(alg string) SignOption { return func(c *signConfig) { c.alg = alg } }

// WithKeyID puts kid in the header instead of the signing key's id.
func WithKeyID(kid string) SignOption { return func(c *signConfig) { c.kid = &kid } }

// WithoutKeyID leaves kid out of the header.
func WithoutKeyID() SignOption { return WithKeyID("") }

// WithHeader adds a protected header parameter.
func WithHeader(name string, value any) SignOption {
	return func(c *signConfig) {
		if c.headers == nil {
			c.headers = map[jose.HeaderKey]any{}
		}
		c.headers[jose.HeaderKey(name)] = value
	}
}

// Sign returns a compact JWS of claims signed with the issuer's current
// key (RS256 unless WithAlgorithm says otherwise), its kid in the header.
func (iss *Issuer) Sign(claims map[string]any, opts ...SignOption) string {
	iss.t.Helper()
	return iss.SignRaw(iss.marshal(claims), opts...)
}

// SignRaw is Sign for a payload given as bytes, for payloads a map cannot
// express (duplicate names, non-objects).
func (iss *Issuer) SignRaw(payload []byte, opts ...SignOption) string {
	iss.t.Helper()
	c := signConfig{alg: "RS256"}
	for _, o := range opts {
		o(&c)
	}
	k := iss.key(c.alg)
	if c.kid == nil {
		c.kid = &k.kid
	}
	return sign(iss.t, c, k.priv, payload)
}

// SignWith signs claims with alg and any key go-jose accepts for it (a
// foreign private key, or []byte for HS256): the forgeries of negative
// tests. The header has no kid unless WithKeyID is given.
func (iss *Issuer) SignWith(alg string, key any, claims map[string]any, opts ...SignOption) string {
	iss.t.Helper()
	c := signConfig{alg: alg}
	for _, o := range opts {
		o(&c)
	}
	return sign(iss.t, c, key, iss.marshal(claims))
}

// SignNone returns an unsigned token ("alg": "none", empty signature),
// which go-jose refuses to produce.
func (iss *Issuer) SignNone(claims map[string]any) string {
	iss.t.Helper()
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc.EncodeToString(iss.marshal(claims)) + "."
}

func (iss *Issuer) marshal(claims map[string]any) []byte {
	iss.t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		iss.t.Fatalf("encoding claims: %v", err)
	}
	return b
}

func sign(t testing.TB, c signConfig, key any, payload []byte) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if c.kid != nil && *c.kid != "" {
		opts = opts.WithHeader("kid", *c.kid)
	}
	for name, v := range c.headers {
		opts = opts.WithHeader(name, v)
	}
	sk := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(c.alg), Key: key}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatalf("jwttest: signer for %s: %v", c.alg, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("jwttest: signing: %v", err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("jwttest: serializing: %v", err)
	}
	return s
}

func randomID(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
