package jwtauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/jwtauth/jwttest"
)

// pastRefresh is more than the default RefreshMinInterval.
const pastRefresh = jwtauth.DefaultRefreshMinInterval + time.Second

func TestRotation(t *testing.T) {
	t.Run("ok/old-key-removed", func(t *testing.T) {
		iss, v, clk := setup(t, nil)
		old := iss.Sign(iss.Claims(audience, "w"))
		if _, err := v.Verify(t.Context(), old); err != nil {
			t.Fatalf("Verify before rotation: %v", err)
		}
		iss.Rotate(false)
		clk.Advance(pastRefresh)

		fresh := iss.Sign(iss.Claims(audience, "w"))
		if _, err := v.Verify(t.Context(), fresh); err != nil {
			t.Fatalf("Verify after rotation: %v", err)
		}
		wantFetches(t, iss, 2)
		_, err := v.Verify(t.Context(), old)
		wantReason(t, err, jwtauth.ReasonUnknownKey, old)
		wantFetches(t, iss, 2) // the refetch allowance is spent

		clk.Advance(pastRefresh)
		_, err = v.Verify(t.Context(), old)
		wantReason(t, err, jwtauth.ReasonUnknownKey, old)
		wantFetches(t, iss, 3) // one allowed refetch, still unknown
	})

	t.Run("ok/old-key-kept", func(t *testing.T) {
		iss, v, clk := setup(t, nil)
		old := iss.Sign(iss.Claims(audience, "w"), jwttest.WithAlgorithm("ES256"))
		iss.Rotate(true)
		clk.Advance(pastRefresh)

		fresh := iss.Sign(iss.Claims(audience, "w"), jwttest.WithAlgorithm("ES256"))
		for _, tok := range []string{fresh, old, fresh} {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		}
		wantFetches(t, iss, 2)

		// Two RSA keys now fit RS256: without a kid the choice is refused.
		noKid := iss.Sign(iss.Claims(audience, "w"), jwttest.WithoutKeyID())
		_, err := v.Verify(t.Context(), noKid)
		wantReason(t, err, jwtauth.ReasonUnknownKey, noKid)
	})

	t.Run("fail/unknown-key/rotation-within-refresh-interval", func(t *testing.T) {
		iss, v, clk := setup(t, nil)
		iss.Rotate(false)
		clk.Advance(jwtauth.DefaultRefreshMinInterval - time.Second)
		fresh := iss.Sign(iss.Claims(audience, "w"))
		_, err := v.Verify(t.Context(), fresh)
		wantReason(t, err, jwtauth.ReasonUnknownKey, fresh)
		wantFetches(t, iss, 1)

		clk.Advance(2 * time.Second)
		if _, err := v.Verify(t.Context(), fresh); err != nil {
			t.Fatalf("Verify once the interval has passed: %v", err)
		}
		wantFetches(t, iss, 2)
	})
}

func TestRefetchRateLimit(t *testing.T) {
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const callers = 50

	t.Run("ok/unknown-kids-share-one-refetch", func(t *testing.T) {
		iss, v, clk := setup(t, nil)
		clk.Advance(pastRefresh)
		tokens := make([]string, callers)
		for i := range tokens {
			tokens[i] = iss.SignWith("RS256", foreign, iss.Claims(audience, "w"),
				jwttest.WithKeyID(fmt.Sprintf("made-up-%d", i)))
		}
		errs := verifyAll(t, v, tokens)
		for i, err := range errs {
			wantReason(t, err, jwtauth.ReasonUnknownKey, tokens[i])
		}
		wantFetches(t, iss, 2)
	})

	t.Run("ok/rotated-key-one-refetch", func(t *testing.T) {
		iss, v, clk := setup(t, nil)
		iss.Rotate(false)
		clk.Advance(pastRefresh)
		tokens := make([]string, callers)
		for i := range tokens {
			tokens[i] = iss.Sign(iss.Claims(audience, fmt.Sprintf("w-%d", i)))
		}
		for i, err := range verifyAll(t, v, tokens) {
			if err != nil {
				t.Errorf("token %d: %v", i, err)
			}
		}
		wantFetches(t, iss, 2)
	})
}

// verifyAll verifies the tokens concurrently, released together.
func verifyAll(t *testing.T, v *jwtauth.Verifier, tokens []string) []error {
	t.Helper()
	errs := make([]error, len(tokens))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() {
			<-start
			_, errs[i] = v.Verify(t.Context(), tok)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func TestKeyCache(t *testing.T) {
	t.Run("ok/refetch-after-ttl", func(t *testing.T) {
		iss, v, clk := setup(t, func(c *jwtauth.Config) { c.CacheTTL = 2 * time.Minute })
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		clk.Advance(2*time.Minute - time.Second)
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		wantFetches(t, iss, 1)
		clk.Advance(2 * time.Second)
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		wantFetches(t, iss, 2)
	})

	t.Run("ok/cache-control-max-age", func(t *testing.T) {
		iss := jwttest.NewIssuer(t)
		iss.SetCacheControl("public, max-age=60")
		clk := newClock()
		iss.Now = clk.Now
		v := newVerifier(t, iss, clk, nil)
		clk.Advance(61 * time.Second)
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		wantFetches(t, iss, 2)
	})

	t.Run("ok/no-store-floors-at-refresh-interval", func(t *testing.T) {
		iss := jwttest.NewIssuer(t)
		iss.SetCacheControl("no-store")
		clk := newClock()
		iss.Now = clk.Now
		v := newVerifier(t, iss, clk, nil)
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		wantFetches(t, iss, 1)
		clk.Advance(pastRefresh)
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		wantFetches(t, iss, 2)
	})

	t.Run("ok/expired-keys-used-while-issuer-down", func(t *testing.T) {
		iss, v, clk := setup(t, nil)
		iss.SetFailing(true)
		clk.Advance(jwtauth.DefaultCacheTTL + time.Second)
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		wantFetches(t, iss, 2) // tried, failed, kept the old keys
		verifyOK(t, v, iss.Sign(iss.Claims(audience, "w")))
		wantFetches(t, iss, 2) // the failure is rate-limited too
	})

	t.Run("fail/unavailable-until-issuer-is-up", func(t *testing.T) {
		iss := jwttest.NewIssuer(t)
		iss.SetFailing(true)
		clk := newClock()
		iss.Now = clk.Now
		v := newVerifier(t, iss, clk, nil) // the issuer being down is no reason to fail
		token := iss.Sign(iss.Claims(audience, "w"))

		_, err := v.Verify(t.Context(), token)
		wantUnavailable(t, err)
		iss.SetFailing(false)
		_, err = v.Verify(t.Context(), token)
		wantUnavailable(t, err) // rate-limited: no fetch yet
		clk.Advance(pastRefresh)
		verifyOK(t, v, token)
		if n := iss.DiscoveryFetches(); n != 2 {
			t.Errorf("discovery fetched %d times, want 2", n)
		}
	})

	t.Run("fail/unavailable-when-caller-gives-up", func(t *testing.T) {
		iss := jwttest.NewIssuer(t)
		iss.SetFailing(true)
		clk := newClock()
		iss.Now = clk.Now
		v := newVerifier(t, iss, clk, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		clk.Advance(pastRefresh)
		_, err := v.Verify(ctx, iss.Sign(iss.Claims(audience, "w")))
		wantUnavailable(t, err)
	})
}

func TestNew(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	clk := newClock()
	base := baseConfig(iss, clk)

	bigJWKS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"keys":[],"pad":"`+strings.Repeat("x", jwtauth.MaxDocumentSize)+`"}`)
	}))
	t.Cleanup(bigJWKS.Close)
	weakJWKS := jwksServer(t, weakAndSymmetricKeys(t))
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	tests := []struct {
		name string
		edit func(*jwtauth.Config)
		want string // part of New's error; "" for success
	}{
		{"ok/discovery", func(c *jwtauth.Config) {}, ""},
		{"ok/jwks-url", func(c *jwtauth.Config) { c.JWKSURL = iss.JWKSURL }, ""},
		{"ok/explicit-discovery-url", func(c *jwtauth.Config) {
			c.DiscoveryURL = iss.URL + "/.well-known/openid-configuration"
		}, ""},
		{"ok/issuer-unreachable", func(c *jwtauth.Config) { c.DiscoveryURL = downURL + "/x" }, ""},
		{"ok/listed-algorithms", func(c *jwtauth.Config) {
			c.Algorithms = []string{"ES256", "EdDSA"}
		}, ""},
		{"fail/no-issuer", func(c *jwtauth.Config) { c.Issuer = "" }, "issuer"},
		{"fail/issuer-not-url", func(c *jwtauth.Config) { c.Issuer = "vault" }, "discovery URL"},
		{"fail/no-audience", func(c *jwtauth.Config) { c.Audiences = nil }, "audience"},
		{"fail/empty-audience", func(c *jwtauth.Config) { c.Audiences = []string{""} }, "audience"},
		{"fail/no-wallet-claim", func(c *jwtauth.Config) { c.WalletClaim = "" }, "wallet claim"},
		{"fail/hs256-listed", func(c *jwtauth.Config) { c.Algorithms = []string{"RS256", "HS256"} },
			"never accepted"},
		{"fail/none-listed", func(c *jwtauth.Config) { c.Algorithms = []string{"none"} },
			"never accepted"},
		{"fail/unknown-algorithm", func(c *jwtauth.Config) { c.Algorithms = []string{"RS1"} },
			"not supported"},
		{"fail/leeway-too-large", func(c *jwtauth.Config) { c.Leeway = 6 * time.Minute }, "leeway"},
		{"fail/negative-leeway", func(c *jwtauth.Config) { c.Leeway = -time.Second }, "leeway"},
		{"fail/refresh-interval-too-small", func(c *jwtauth.Config) {
			c.RefreshMinInterval = time.Millisecond
		}, "refresh interval"},
		{"fail/cache-ttl-below-refresh-interval", func(c *jwtauth.Config) {
			c.CacheTTL = 10 * time.Second
		}, "cache TTL"},
		{"fail/jwks-url-relative", func(c *jwtauth.Config) { c.JWKSURL = "/keys" }, "JWKS URL"},
		{"fail/discovery-issuer-mismatch", func(c *jwtauth.Config) { c.Issuer = iss.URL + "/" },
			"names issuer"},
		{"fail/discovery-not-found", func(c *jwtauth.Config) { c.DiscoveryURL = iss.URL + "/nope" },
			"status 404"},
		{"fail/jwks-too-large", func(c *jwtauth.Config) { c.JWKSURL = bigJWKS.URL }, "larger than"},
		{"fail/jwks-no-usable-key", func(c *jwtauth.Config) { c.JWKSURL = weakJWKS }, "no usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			v, err := jwtauth.New(t.Context(), cfg)
			if tt.want == "" {
				if err != nil || v == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestJWKSKeyFilter(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	clk := newClock()
	iss.Now = clk.Now
	keys := weakAndSymmetricKeys(t)
	// The issuer's real RSA key, published next to keys that must be ignored.
	var good jose.JSONWebKey
	if err := good.UnmarshalJSON(iss.PublicJWK("RS256")); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, good)
	v := newVerifier(t, iss, clk, func(c *jwtauth.Config) { c.JWKSURL = jwksServer(t, keys) })
	base := iss.Claims(audience, "w")

	verifyOK(t, v, iss.Sign(base))
	tests := []struct {
		name   string
		token  string
		reason jwtauth.Reason
	}{
		{"fail/algorithm/hs256-with-published-secret", iss.SignWith("HS256", []byte(sharedSecret), base,
			jwttest.WithKeyID("oct")), jwtauth.ReasonAlgorithm},
		{"fail/unknown-key/rsa-1024-skipped", iss.SignWith("RS256", weakRSA, base,
			jwttest.WithKeyID("weak")), jwtauth.ReasonUnknownKey},
		{"fail/unknown-key/encryption-key-skipped", iss.SignWith("RS256", encRSA, base,
			jwttest.WithKeyID("enc")), jwtauth.ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tt.token)
			wantReason(t, err, tt.reason, tt.token)
		})
	}
}

const sharedSecret = "a symmetric secret that a JWKS must never hand to a verifier"

var weakRSA, encRSA = mustRSA(1024), mustRSA(2048)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// weakAndSymmetricKeys are JWKS entries a verifier must not use: a shared
// secret, a 1024-bit RSA key and an RSA key meant for encryption.
func weakAndSymmetricKeys(t *testing.T) []jose.JSONWebKey {
	t.Helper()
	return []jose.JSONWebKey{
		{Key: []byte(sharedSecret), KeyID: "oct", Algorithm: "HS256", Use: "sig"},
		{Key: weakRSA.Public(), KeyID: "weak", Algorithm: "RS256", Use: "sig"},
		{Key: encRSA.Public(), KeyID: "enc", Use: "enc"},
	}
}

// jwksServer serves keys as a JWKS and returns its URL.
func jwksServer(t *testing.T, keys []jose.JSONWebKey) string {
	t.Helper()
	body := mustJSON(t, jose.JSONWebKeySet{Keys: keys})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func verifyOK(t *testing.T, v *jwtauth.Verifier, token string) {
	t.Helper()
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, jwtauth.ErrUnavailable) || errors.Is(err, jwtauth.ErrInvalidToken) {
		t.Fatalf("Verify error %v, want ErrUnavailable only", err)
	}
}

func wantFetches(t *testing.T, iss *jwttest.Issuer, n int) {
	t.Helper()
	if got := iss.JWKSFetches(); got != n {
		t.Fatalf("JWKS fetched %d times, want %d", got, n)
	}
}
