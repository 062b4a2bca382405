package jwtauth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/jwtauth/jwttest"
)

// FuzzVerify feeds arbitrary strings to Verify with a fixed, already
// fetched JWKS and a clock that stands still, so no input can cause a
// refetch. Verify must not panic, must refuse with ErrInvalidToken and a
// known Reason, and may accept only tokens whose claims passed the checks.
func FuzzVerify(f *testing.F) {
	iss := jwttest.NewIssuer(f)
	clk := newClock()
	iss.Now = clk.Now
	cfg := baseConfig(iss, clk)
	v, err := jwtauth.New(f.Context(), cfg)
	if err != nil {
		f.Fatalf("New: %v", err)
	}

	base := iss.Claims(audience, "wallet-fuzz")
	for _, alg := range []string{"RS256", "PS384", "ES256", "EdDSA"} {
		f.Add(iss.Sign(base, jwttest.WithAlgorithm(alg)))
	}
	f.Add(iss.Sign(base, jwttest.WithoutKeyID()))
	f.Add(iss.SignNone(base))
	f.Add(iss.SignWith("HS256", []byte(sharedSecret), base, jwttest.WithKeyID(iss.KeyID("RS256"))))
	f.Add(iss.SignRaw([]byte(`{"exp":1e999,"aud":[1],"wallet_id":{}}`)))
	f.Add(iss.SignRaw([]byte(`{"a":{"b":{"c":[null,true,"x",1.5e-7]}}}`)))
	f.Add(iss.Sign(base, jwttest.WithHeader("crit", []string{"exp"})))
	f.Add("eyJhbGciOiJSUzI1NiJ9..")
	f.Add("a.b.c")
	f.Add(strings.Repeat(".", 100))
	f.Add("")

	reasons := map[jwtauth.Reason]bool{}
	for _, r := range jwtauth.Reasons() {
		reasons[r] = true
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(t.Context(), token)
		if err != nil {
			if !errors.Is(err, jwtauth.ErrInvalidToken) || !reasons[jwtauth.ReasonOf(err)] {
				t.Fatalf("error %v (reason %q) is not a refusal with a known reason",
					err, jwtauth.ReasonOf(err))
			}
			return
		}
		if c.WalletID == "" || c.Issuer != iss.URL || c.Expiry.IsZero() {
			t.Fatalf("accepted token with claims %+v", c)
		}
	})
}
