package jwtauth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/jwtauth/jwttest"
)

// audience is the agent's audience in these tests.
const audience = "prism-agent"

// testClock is a clock shared by an issuer and a verifier that tests move
// forward instead of sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setup starts an issuer and a verifier for it sharing one clock; edit
// changes the verifier's configuration.
func setup(
	t *testing.T, edit func(*jwtauth.Config),
) (*jwttest.Issuer, *jwtauth.Verifier, *testClock) {
	t.Helper()
	iss := jwttest.NewIssuer(t)
	clk := newClock()
	iss.Now = clk.Now
	return iss, newVerifier(t, iss, clk, edit), clk
}

func baseConfig(iss *jwttest.Issuer, clk *testClock) jwtauth.Config {
	return jwtauth.Config{
		Issuer:      iss.URL,
		Audiences:   []string{audience},
		WalletClaim: jwttest.WalletClaim,
		HTTPClient:  &http.Client{Timeout: 10 * time.Second},
		Now:         clk.Now,
	}
}

func newVerifier(
	t *testing.T, iss *jwttest.Issuer, clk *testClock, edit func(*jwtauth.Config),
) *jwtauth.Verifier {
	t.Helper()
	cfg := baseConfig(iss, clk)
	if edit != nil {
		edit(&cfg)
	}
	v, err := jwtauth.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// wantReason checks that err refuses the token for reason, and that its
// text is the fixed one, free of any part of the token.
func wantReason(t *testing.T, err error, reason jwtauth.Reason, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify accepted the token, want reason %s", reason)
	}
	if !errors.Is(err, jwtauth.ErrInvalidToken) || errors.Is(err, jwtauth.ErrUnavailable) {
		t.Fatalf("Verify error %v: want ErrInvalidToken only", err)
	}
	if got := jwtauth.ReasonOf(err); got != reason {
		t.Fatalf("reason %q, want %q (error %v)", got, reason, err)
	}
	if want := "invalid bearer token: " + string(reason); err.Error() != want {
		t.Errorf("error text %q, want %q", err.Error(), want)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 8 && strings.Contains(err.Error(), part) {
			t.Errorf("error text contains part of the token")
		}
	}
}

// tamperPayload replaces the token's payload segment by claims.
func tamperPayload(t *testing.T, token string, payload []byte) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// tamperSignature flips one bit of the token's signature.
func tamperSignature(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("decoding signature: %v", err)
	}
	sig[len(sig)/2] ^= 0x01
	parts[2] = base64.RawURLEncoding.EncodeToString(sig)
	return strings.Join(parts, ".")
}

// deleted, as a value for with, removes the claim.
type deleted struct{}

// with returns a copy of claims with the given changes.
func with(claims map[string]any, changes map[string]any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for k, v := range changes {
		if _, ok := v.(deleted); ok {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// tamperHeader replaces the token's protected header by header.
func tamperHeader(t *testing.T, token, header string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte(header))
	return strings.Join(parts, ".")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding JSON: %v", err)
	}
	return b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
