package jwtauth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/jwtauth/jwttest"
)

func TestVerify(t *testing.T) {
	iss, v, clk := setup(t, nil)
	now := clk.Now().Unix()
	base := iss.Claims(audience, "wallet-1")

	tests := []struct {
		name  string
		token string
		aud   []string
	}{
		{"ok/rs256-string-aud", iss.Sign(base), []string{audience}},
		{"ok/array-aud", iss.Sign(with(base, map[string]any{"aud": []string{"other", audience}})),
			[]string{"other", audience}},
		{"ok/ps256", iss.Sign(base, jwttest.WithAlgorithm("PS256")), []string{audience}},
		{"ok/rs512", iss.Sign(base, jwttest.WithAlgorithm("RS512")), []string{audience}},
		{"ok/es256", iss.Sign(base, jwttest.WithAlgorithm("ES256")), []string{audience}},
		{"ok/eddsa", iss.Sign(base, jwttest.WithAlgorithm("EdDSA")), []string{audience}},
		{"ok/no-kid-one-key-fits", iss.Sign(base, jwttest.WithoutKeyID()), []string{audience}},
		{"ok/exp-within-leeway", iss.Sign(with(base, map[string]any{"exp": now - 10})),
			[]string{audience}},
		{"ok/nbf-within-leeway", iss.Sign(with(base, map[string]any{"nbf": now + 10})),
			[]string{audience}},
		{"ok/iat-within-leeway", iss.Sign(with(base, map[string]any{"iat": now + 10})),
			[]string{audience}},
		{"ok/no-iat-nbf-sub", iss.Sign(with(base, map[string]any{
			"iat": deleted{}, "nbf": deleted{}, "sub": deleted{}})), []string{audience}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.WalletID != "wallet-1" || c.Issuer != iss.URL || !slices.Equal(c.Audience, tt.aud) {
				t.Errorf("claims %+v", c)
			}
			if c.Expiry.IsZero() {
				t.Errorf("no expiry in %+v", c)
			}
		})
	}

	t.Run("ok/claims", func(t *testing.T) {
		c, err := v.Verify(t.Context(), iss.Sign(base))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		want := jwtauth.Claims{
			Subject:   "tenant-wallet-1",
			WalletID:  "wallet-1",
			Issuer:    iss.URL,
			Audience:  []string{audience},
			ID:        base["jti"].(string),
			Expiry:    time.Unix(now+300, 0),
			IssuedAt:  time.Unix(now, 0),
			NotBefore: time.Unix(now, 0),
		}
		if c.Subject != want.Subject || c.ID != want.ID || !c.Expiry.Equal(want.Expiry) ||
			!c.IssuedAt.Equal(want.IssuedAt) || !c.NotBefore.Equal(want.NotBefore) {
			t.Errorf("claims %+v, want %+v", c, want)
		}
	})
}

func TestVerifyWalletClaimPath(t *testing.T) {
	tests := []struct {
		name   string
		claim  string
		claims map[string]any
		want   string
	}{
		{"ok/nested", "prism.wallet_id",
			map[string]any{"prism": map[string]any{"wallet_id": "w-n"}}, "w-n"},
		{"ok/dotted-name-wins", "prism.wallet_id",
			map[string]any{"prism.wallet_id": "w-d", "prism": map[string]any{"wallet_id": "w-n"}}, "w-d"},
		{"ok/url-name", "https://prism.example/wallet_id",
			map[string]any{"https://prism.example/wallet_id": "w-u"}, "w-u"},
		{"fail/missing-wallet-claim/nested-not-object", "prism.wallet_id",
			map[string]any{"prism": "w"}, ""},
		{"fail/missing-wallet-claim/nested-number", "prism.wallet_id",
			map[string]any{"prism": map[string]any{"wallet_id": 7}}, ""},
	}
	iss := jwttest.NewIssuer(t)
	clk := newClock()
	iss.Now = clk.Now
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, iss, clk, func(c *jwtauth.Config) { c.WalletClaim = tt.claim })
			claims := with(iss.Claims(audience, "x"), map[string]any{jwttest.WalletClaim: deleted{}})
			token := iss.Sign(with(claims, tt.claims))
			c, err := v.Verify(t.Context(), token)
			if tt.want == "" {
				wantReason(t, err, jwtauth.ReasonMissingWalletClaim, token)
				return
			}
			if err != nil || c.WalletID != tt.want {
				t.Fatalf("Verify: %+v, %v; want wallet %s", c, err, tt.want)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	iss, v, clk := setup(t, nil)
	now := clk.Now().Unix()
	base := iss.Claims(audience, "wallet-1")
	valid := iss.Sign(base)
	rsaKid, ecKid, edKid := iss.KeyID("RS256"), iss.KeyID("ES256"), iss.KeyID("EdDSA")

	foreignRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	foreignEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreignP384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, foreignEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	// The forms in which an attacker may feed the issuer's public key to
	// HMAC, hoping the verifier uses it as the HS256 secret.
	rsaPub := iss.PublicKey("RS256").(*rsa.PublicKey)
	pkixDER, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	pkixPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixDER})
	pkcs1DER := x509.MarshalPKCS1PublicKey(rsaPub)
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1DER})
	ecDER, err := x509.MarshalPKIXPublicKey(iss.PublicKey("ES256"))
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})

	tests := []struct {
		name   string
		token  string
		reason jwtauth.Reason
	}{
		{"fail/malformed/garbage", "this is not a token", jwtauth.ReasonMalformed},
		{"fail/malformed/empty", "", jwtauth.ReasonMalformed},
		{"fail/malformed/two-parts", strings.Join(strings.Split(valid, ".")[:2], "."),
			jwtauth.ReasonMalformed},
		{"fail/malformed/four-parts", valid + ".x", jwtauth.ReasonMalformed},
		{"fail/malformed/jwe-form", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", jwtauth.ReasonMalformed},
		{"fail/malformed/bad-base64", "!!!." + strings.SplitN(valid, ".", 2)[1],
			jwtauth.ReasonMalformed},
		{"fail/malformed/header-not-json", "bm90LWpzb24." + strings.SplitN(valid, ".", 2)[1],
			jwtauth.ReasonMalformed},
		{"fail/malformed/payload-not-json", iss.SignRaw([]byte("not json")), jwtauth.ReasonMalformed},
		{"fail/malformed/payload-array", iss.SignRaw([]byte(`[1,2]`)), jwtauth.ReasonMalformed},
		{"fail/malformed/payload-null", iss.SignRaw([]byte(`null`)), jwtauth.ReasonMalformed},
		{"fail/malformed/duplicate-exp", iss.SignRaw([]byte(`{"iss":"` + iss.URL +
			`","aud":"` + audience + `","wallet_id":"w","exp":1,"exp":9999999999}`)),
			jwtauth.ReasonMalformed},
		{"fail/malformed/exp-string", iss.Sign(with(base, map[string]any{"exp": "tomorrow"})),
			jwtauth.ReasonMalformed},
		{"fail/malformed/exp-huge", iss.Sign(with(base, map[string]any{"exp": 1e300})),
			jwtauth.ReasonMalformed},
		{"fail/malformed/aud-number", iss.Sign(with(base, map[string]any{"aud": 42})),
			jwtauth.ReasonMalformed},
		{"fail/malformed/iss-object", iss.Sign(with(base, map[string]any{"iss": map[string]any{}})),
			jwtauth.ReasonMalformed},
		{"fail/malformed/no-exp", iss.Sign(with(base, map[string]any{"exp": deleted{}})),
			jwtauth.ReasonMalformed},
		{"fail/malformed/upper-case-exp", iss.Sign(with(base, map[string]any{
			"exp": deleted{}, "EXP": now + 300})), jwtauth.ReasonMalformed},

		{"fail/algorithm/none", iss.SignNone(base), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/none-with-kid", tamperHeader(t, valid, `{"alg":"none","kid":"`+rsaKid+`"}`),
			jwtauth.ReasonAlgorithm},
		{"fail/algorithm/hs256-rsa-pkix-der", iss.SignWith("HS256", pkixDER, base,
			jwttest.WithKeyID(rsaKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/hs256-rsa-pkix-pem", iss.SignWith("HS256", pkixPEM, base,
			jwttest.WithKeyID(rsaKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/hs256-rsa-pkcs1-der", iss.SignWith("HS256", pkcs1DER, base,
			jwttest.WithKeyID(rsaKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/hs256-rsa-pkcs1-pem", iss.SignWith("HS256", pkcs1PEM, base),
			jwtauth.ReasonAlgorithm},
		{"fail/algorithm/hs256-rsa-jwk-json", iss.SignWith("HS256", iss.PublicJWK("RS256"), base,
			jwttest.WithKeyID(rsaKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/hs384-ec-pem", iss.SignWith("HS384", ecPEM, base,
			jwttest.WithKeyID(ecKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/hs512-ec-jwk-json", iss.SignWith("HS512", iss.PublicJWK("ES256"), base,
			jwttest.WithKeyID(ecKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/rs256-with-ec-kid", iss.SignWith("RS256", foreignRSA, base,
			jwttest.WithKeyID(ecKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/es256-with-rsa-kid", iss.SignWith("ES256", foreignEC, base,
			jwttest.WithKeyID(rsaKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/eddsa-with-ec-kid", iss.SignWith("EdDSA", foreignEd, base,
			jwttest.WithKeyID(ecKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/es256-with-ed-kid", iss.SignWith("ES256", foreignEC, base,
			jwttest.WithKeyID(edKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/es384-with-p256-kid", iss.SignWith("ES384", foreignP384, base,
			jwttest.WithKeyID(ecKid)), jwtauth.ReasonAlgorithm},
		{"fail/algorithm/unknown-alg", tamperHeader(t, valid, `{"alg":"XS256","kid":"`+rsaKid+`"}`),
			jwtauth.ReasonAlgorithm},

		{"fail/signature/tampered-payload", tamperPayload(t, valid,
			mustJSON(t, with(base, map[string]any{jwttest.WalletClaim: "wallet-2"}))),
			jwtauth.ReasonSignature},
		{"fail/signature/tampered-signature", tamperSignature(t, valid), jwtauth.ReasonSignature},
		{"fail/signature/tampered-es256", tamperSignature(t,
			iss.Sign(base, jwttest.WithAlgorithm("ES256"))), jwtauth.ReasonSignature},
		{"fail/signature/tampered-eddsa", tamperSignature(t,
			iss.Sign(base, jwttest.WithAlgorithm("EdDSA"))), jwtauth.ReasonSignature},
		{"fail/signature/empty-signature", strings.Join(append(strings.Split(valid, ".")[:2], ""), "."),
			jwtauth.ReasonSignature},
		{"fail/signature/foreign-rsa-with-issuer-kid", iss.SignWith("RS256", foreignRSA, base,
			jwttest.WithKeyID(rsaKid)), jwtauth.ReasonSignature},
		{"fail/signature/foreign-ec-with-issuer-kid", iss.SignWith("ES256", foreignEC, base,
			jwttest.WithKeyID(ecKid)), jwtauth.ReasonSignature},
		{"fail/signature/rs256-as-ps256", tamperHeader(t, valid, `{"alg":"PS256","kid":"`+rsaKid+`"}`),
			jwtauth.ReasonSignature},

		{"fail/unknown-key/kid", iss.SignWith("RS256", foreignRSA, base, jwttest.WithKeyID("nope")),
			jwtauth.ReasonUnknownKey},
		{"fail/unknown-key/no-kid-no-key-fits", iss.SignWith("ES384", foreignP384, base),
			jwtauth.ReasonUnknownKey},

		{"fail/issuer/other", iss.Sign(with(base, map[string]any{"iss": "https://evil.example"})),
			jwtauth.ReasonIssuer},
		{"fail/issuer/trailing-slash", iss.Sign(with(base, map[string]any{"iss": iss.URL + "/"})),
			jwtauth.ReasonIssuer},
		{"fail/issuer/missing", iss.Sign(with(base, map[string]any{"iss": deleted{}})),
			jwtauth.ReasonIssuer},

		{"fail/audience/string", iss.Sign(with(base, map[string]any{"aud": "other"})),
			jwtauth.ReasonAudience},
		{"fail/audience/array", iss.Sign(with(base, map[string]any{"aud": []string{"a", "b"}})),
			jwtauth.ReasonAudience},
		{"fail/audience/empty-array", iss.Sign(with(base, map[string]any{"aud": []string{}})),
			jwtauth.ReasonAudience},
		{"fail/audience/missing", iss.Sign(with(base, map[string]any{"aud": deleted{}})),
			jwtauth.ReasonAudience},
		{"fail/audience/case", iss.Sign(with(base, map[string]any{"aud": "PRISM-AGENT"})),
			jwtauth.ReasonAudience},

		{"fail/expired/beyond-leeway", iss.Sign(with(base, map[string]any{"exp": now - 31})),
			jwtauth.ReasonExpired},
		{"fail/expired/long-ago", iss.Sign(with(base, map[string]any{"exp": now - 86400})),
			jwtauth.ReasonExpired},
		{"fail/not-yet-valid", iss.Sign(with(base, map[string]any{"nbf": now + 60})),
			jwtauth.ReasonNotYetValid},
		{"fail/issued-in-future", iss.Sign(with(base, map[string]any{"iat": now + 60})),
			jwtauth.ReasonIssuedInFuture},

		{"fail/missing-wallet-claim/absent", iss.Sign(with(base,
			map[string]any{jwttest.WalletClaim: deleted{}})), jwtauth.ReasonMissingWalletClaim},
		{"fail/missing-wallet-claim/empty", iss.Sign(with(base,
			map[string]any{jwttest.WalletClaim: ""})), jwtauth.ReasonMissingWalletClaim},
		{"fail/missing-wallet-claim/number", iss.Sign(with(base,
			map[string]any{jwttest.WalletClaim: 12})), jwtauth.ReasonMissingWalletClaim},
		{"fail/missing-wallet-claim/array", iss.Sign(with(base,
			map[string]any{jwttest.WalletClaim: []string{"w"}})), jwtauth.ReasonMissingWalletClaim},
		{"fail/missing-wallet-claim/null", iss.SignRaw([]byte(`{"iss":"` + iss.URL + `","aud":"` +
			audience + `","exp":` + itoa(now+300) + `,"wallet_id":null}`)),
			jwtauth.ReasonMissingWalletClaim},

		{"fail/too-large/signed", iss.Sign(with(base, map[string]any{
			"pad": strings.Repeat("x", jwtauth.MaxTokenSize)})), jwtauth.ReasonTooLarge},
		{"fail/too-large/garbage", strings.Repeat("a", jwtauth.MaxTokenSize+1), jwtauth.ReasonTooLarge},
	}
	fetches := iss.JWKSFetches()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tt.token)
			wantReason(t, err, tt.reason, tt.token)
		})
	}
	// The clock stood still, so unknown kids caused no refetch.
	if got := iss.JWKSFetches(); got != fetches {
		t.Errorf("JWKS fetched %d times during the suite, want 0", got-fetches)
	}
}

func TestVerifyAlgorithmAllowList(t *testing.T) {
	iss, v, _ := setup(t, func(c *jwtauth.Config) { c.Algorithms = []string{"ES256"} })
	base := iss.Claims(audience, "wallet-1")
	tests := []struct {
		name   string
		opts   []jwttest.SignOption
		reason jwtauth.Reason
	}{
		{"ok/es256", []jwttest.SignOption{jwttest.WithAlgorithm("ES256")}, ""},
		{"fail/algorithm/rs256", []jwttest.SignOption{jwttest.WithAlgorithm("RS256")},
			jwtauth.ReasonAlgorithm},
		{"fail/algorithm/eddsa", []jwttest.SignOption{jwttest.WithAlgorithm("EdDSA")},
			jwtauth.ReasonAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := iss.Sign(base, tt.opts...)
			_, err := v.Verify(t.Context(), token)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantReason(t, err, tt.reason, token)
		})
	}
}

func TestReasons(t *testing.T) {
	want := []string{"malformed", "algorithm", "signature", "unknown-key", "issuer", "audience",
		"expired", "not-yet-valid", "issued-in-future", "missing-wallet-claim", "too-large"}
	var got []string
	for _, r := range jwtauth.Reasons() {
		got = append(got, string(r))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Reasons() = %v, want %v", got, want)
	}
	if r := jwtauth.ReasonOf(jwtauth.ErrUnavailable); r != "" {
		t.Errorf("ReasonOf(ErrUnavailable) = %q", r)
	}
}
