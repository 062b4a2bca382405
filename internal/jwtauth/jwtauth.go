// Package jwtauth verifies the bearer JWTs tenants send to the agent
// (Authorization: Bearer <jwt>, Phase 3 and 4). The tokens come from an
// OpenID Connect issuer with a published JWKS: by default Vault's identity
// OIDC provider, whose issuer is "<vault>/v1/identity/oidc", but any issuer
// works. Signatures are checked by go-jose against the issuer's keys; this
// package chooses the key, enforces the algorithm allow-list and checks the
// claims, and keeps the JWKS cached and refreshed when the issuer rotates.
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	// go-jose's fork of encoding/json matches names case-sensitively and
	// refuses duplicate names: "EXP" cannot stand in for "exp".
	"github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"
)

// Limits and defaults of a Verifier.
const (
	// MaxTokenSize is the longest token Verify parses, in bytes. Real ID
	// tokens are a few KiB; anything longer is refused before parsing.
	MaxTokenSize = 16 << 10
	// MaxDocumentSize bounds the discovery document and the JWKS, in bytes.
	MaxDocumentSize = 1 << 20
	// DefaultLeeway is the clock skew allowed for exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway New accepts.
	MaxLeeway = 5 * time.Minute
	// DefaultRefreshMinInterval is the least time between two fetches of
	// the JWKS when tokens name an unknown key.
	DefaultRefreshMinInterval = 30 * time.Second
	// MinRefreshMinInterval is the smallest RefreshMinInterval New accepts,
	// so that a flood of tokens with made-up kids cannot hammer the issuer.
	MinRefreshMinInterval = time.Second
	// DefaultCacheTTL is how long a fetched JWKS is used before it is
	// fetched again.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultHTTPTimeout is the timeout of the HTTP client New makes when
	// Config.HTTPClient is nil.
	DefaultHTTPTimeout = 10 * time.Second
)

// defaultAlgorithms are accepted when Config.Algorithms is empty: every
// asymmetric JWS algorithm of RFC 7518 and RFC 8037.
var defaultAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// Config configures a Verifier.
type Config struct {
	// Issuer is the exact expected "iss" and the base of discovery, e.g.
	// "http://127.0.0.1:8200/v1/identity/oidc" for Vault. Required.
	Issuer string
	// DiscoveryURL overrides the OpenID discovery document's address,
	// Issuer + "/.well-known/openid-configuration" by default.
	DiscoveryURL string
	// JWKSURL, when set, is used instead of discovery.
	JWKSURL string
	// Audiences are the accepted "aud" values; a token must carry at least
	// one of them. Required.
	Audiences []string
	// WalletClaim names the claim that carries the wallet id, e.g.
	// "wallet_id". A top-level claim of exactly that name is used when it
	// exists; otherwise a name with dots is read as a path through nested
	// objects ("prism.wallet_id"). The value must be a non-empty string.
	// Required.
	WalletClaim string
	// Algorithms is the allow-list of "alg" values; empty means RS256/384/512,
	// PS256/384/512, ES256/384/512 and EdDSA. "none" and HS* make New fail:
	// a verifier of public-key tokens never accepts them.
	Algorithms []string
	// Leeway is the clock skew allowed for exp, nbf and iat; zero means
	// DefaultLeeway, more than MaxLeeway is an error.
	Leeway time.Duration
	// HTTPClient fetches discovery and the JWKS; nil means a client with
	// DefaultHTTPTimeout.
	HTTPClient *http.Client
	// RefreshMinInterval is the least time between two JWKS fetches; zero
	// means DefaultRefreshMinInterval. A token naming an unknown kid causes
	// a refetch only when the last fetch is at least this old.
	RefreshMinInterval time.Duration
	// CacheTTL is how long a JWKS is used before it is fetched again; zero
	// means DefaultCacheTTL. A shorter Cache-Control max-age of the JWKS
	// response wins, but never below RefreshMinInterval.
	CacheTTL time.Duration
	// Logger receives lifecycle events (JWKS fetched, fetch failed); nil
	// discards them. Tokens are never logged.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests move it forward.
	Now func() time.Time
}

// Claims are the verified claims of a token.
type Claims struct {
	// Subject is "sub"; may be empty.
	Subject string
	// WalletID is the value of the configured wallet claim, never empty.
	WalletID string
	// Issuer is "iss", equal to Config.Issuer.
	Issuer string
	// Audience is "aud", always as a list.
	Audience []string
	// ID is "jti"; may be empty.
	ID string
	// Expiry is "exp".
	Expiry time.Time
	// IssuedAt is "iat"; zero when absent.
	IssuedAt time.Time
	// NotBefore is "nbf"; zero when absent.
	NotBefore time.Time
}

// Verifier verifies tokens of one issuer. It is safe for concurrent use.
type Verifier struct {
	issuer       string
	discoveryURL string
	audiences    []string
	walletClaim  string
	algs         []jose.SignatureAlgorithm
	leeway       time.Duration
	minInterval  time.Duration
	cacheTTL     time.Duration
	client       *http.Client
	log          *slog.Logger
	now          func() time.Time

	flight singleflight.Group
	cache  keyCache
}

// New checks cfg and fetches the issuer's keys once. A configuration error,
// or an issuer that answers but with a wrong document (another issuer, no
// jwks_uri, no usable key), makes New fail. An issuer that cannot be
// reached or answers with a server error does not: the failure is logged
// and Verify fetches again later (and answers ErrUnavailable meanwhile),
// so that the agent can start while the issuer is down.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	// A transient failure is logged by refresh; Verify retries.
	if _, err := v.refresh(ctx); err != nil && !isTransient(err) {
		return nil, err
	}
	return v, nil
}

func newVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("jwt issuer: required")
	}
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		return nil, errors.New("jwt audiences: at least one non-empty audience is required")
	}
	if cfg.WalletClaim == "" {
		return nil, errors.New("jwt wallet claim: a claim name is required")
	}
	algs, err := parseAlgorithms(cfg.Algorithms)
	if err != nil {
		return nil, err
	}

	v := &Verifier{
		issuer:       cfg.Issuer,
		discoveryURL: cfg.DiscoveryURL,
		audiences:    append([]string(nil), cfg.Audiences...),
		walletClaim:  cfg.WalletClaim,
		algs:         algs,
		leeway:       orDefault(cfg.Leeway, DefaultLeeway),
		minInterval:  orDefault(cfg.RefreshMinInterval, DefaultRefreshMinInterval),
		cacheTTL:     orDefault(cfg.CacheTTL, DefaultCacheTTL),
		client:       cfg.HTTPClient,
		log:          cfg.Logger,
		now:          cfg.Now,
	}
	switch {
	case cfg.Leeway < 0 || v.leeway > MaxLeeway:
		return nil, fmt.Errorf("jwt leeway %s: must be between 0 and %s", cfg.Leeway, MaxLeeway)
	case cfg.RefreshMinInterval < 0 || v.minInterval < MinRefreshMinInterval:
		return nil, fmt.Errorf("jwt refresh interval %s: must be at least %s",
			cfg.RefreshMinInterval, MinRefreshMinInterval)
	case cfg.CacheTTL < 0 || v.cacheTTL < v.minInterval:
		return nil, fmt.Errorf("jwt key cache TTL %s: must be at least the refresh interval %s",
			cfg.CacheTTL, v.minInterval)
	}
	if cfg.JWKSURL != "" {
		if err := checkURL(cfg.JWKSURL); err != nil {
			return nil, fmt.Errorf("jwt JWKS URL: %w", err)
		}
		v.cache.jwksURL = cfg.JWKSURL
	} else {
		if v.discoveryURL == "" {
			// OpenID Connect Discovery 1.0, section 4: strip a trailing
			// slash, then append the well-known path.
			v.discoveryURL = strings.TrimSuffix(cfg.Issuer, "/") +
				"/.well-known/openid-configuration"
		}
		if err := checkURL(v.discoveryURL); err != nil {
			return nil, fmt.Errorf("jwt discovery URL: %w", err)
		}
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// parseAlgorithms turns the configured names into the allow-list.
func parseAlgorithms(names []string) ([]jose.SignatureAlgorithm, error) {
	if len(names) == 0 {
		return defaultAlgorithms, nil
	}
	var algs []jose.SignatureAlgorithm
	for _, n := range names {
		alg := jose.SignatureAlgorithm(n)
		switch {
		case strings.EqualFold(n, "none") || strings.HasPrefix(strings.ToUpper(n), "HS"):
			return nil, fmt.Errorf("jwt algorithm %q: symmetric and unsigned tokens are never accepted", n)
		case !slices.Contains(defaultAlgorithms, alg):
			return nil, fmt.Errorf("jwt algorithm %q: not supported", n)
		}
		algs = append(algs, alg)
	}
	return algs, nil
}

// Verify verifies rawToken (without the "Bearer " prefix) and returns its
// claims. Errors match ErrInvalidToken (with a *VerifyError giving the
// Reason) or ErrUnavailable; none contains the token. ctx bounds only the
// wait for a JWKS fetch, which is shared with other callers and finishes
// even if ctx ends.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (Claims, error) {
	if len(rawToken) > MaxTokenSize {
		return Claims{}, invalid(ReasonTooLarge, nil)
	}
	jws, err := jose.ParseSignedCompact(rawToken, v.algs)
	if err != nil {
		var unexpected *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &unexpected) {
			return Claims{}, invalid(ReasonAlgorithm, err)
		}
		return Claims{}, invalid(ReasonMalformed, err)
	}
	// ParseSignedCompact yields exactly one signature.
	header := jws.Signatures[0].Header

	payload, err := v.verifySignature(ctx, jws, header)
	if err != nil {
		return Claims{}, err
	}
	return v.checkClaims(payload)
}

// verifySignature selects the key named by the header, refetching the
// JWKS once when the key is unknown, and returns the verified payload.
func (v *Verifier) verifySignature(
	ctx context.Context, jws *jose.JSONWebSignature, header jose.Header,
) ([]byte, error) {
	alg := jose.SignatureAlgorithm(header.Algorithm)
	keys, err := v.keys(ctx)
	if err != nil {
		return nil, err
	}
	candidates, err := keys.find(header.KeyID, alg)
	if errors.Is(err, errUnknownKey) {
		// The issuer may have rotated its key since the last fetch.
		if fresh, ferr := v.refresh(ctx); ferr == nil && fresh != keys {
			candidates, err = fresh.find(header.KeyID, alg)
		}
	}
	switch {
	case errors.Is(err, errUnknownKey):
		return nil, invalid(ReasonUnknownKey, nil)
	case err != nil:
		return nil, invalid(ReasonAlgorithm, err)
	}

	var lastErr error
	for _, k := range candidates {
		payload, err := jws.Verify(k.Key)
		if err == nil {
			return payload, nil
		}
		lastErr = err
	}
	return nil, invalid(ReasonSignature, lastErr)
}

// checkClaims decodes the verified payload and checks it against the
// configuration and the clock.
func (v *Verifier) checkClaims(payload []byte) (Claims, error) {
	var std jwt.Claims
	if err := json.Unmarshal(payload, &std); err != nil {
		return Claims{}, invalid(ReasonMalformed, err)
	}
	var all map[string]any
	if err := json.Unmarshal(payload, &all); err != nil || all == nil {
		return Claims{}, invalid(ReasonMalformed, err)
	}
	if std.Expiry == nil {
		return Claims{}, invalid(ReasonMalformed, errors.New("no exp claim"))
	}

	now := v.now()
	switch {
	case std.Issuer != v.issuer:
		return Claims{}, invalid(ReasonIssuer, nil)
	case !anyIn(std.Audience, v.audiences):
		return Claims{}, invalid(ReasonAudience, nil)
	case now.Add(-v.leeway).After(std.Expiry.Time()):
		return Claims{}, invalid(ReasonExpired, nil)
	case std.NotBefore != nil && now.Add(v.leeway).Before(std.NotBefore.Time()):
		return Claims{}, invalid(ReasonNotYetValid, nil)
	case std.IssuedAt != nil && now.Add(v.leeway).Before(std.IssuedAt.Time()):
		return Claims{}, invalid(ReasonIssuedInFuture, nil)
	}

	wallet, ok := lookupClaim(all, v.walletClaim).(string)
	if !ok || wallet == "" {
		return Claims{}, invalid(ReasonMissingWalletClaim, nil)
	}
	return Claims{
		Subject:   std.Subject,
		WalletID:  wallet,
		Issuer:    std.Issuer,
		Audience:  []string(std.Audience),
		ID:        std.ID,
		Expiry:    std.Expiry.Time(),
		IssuedAt:  optionalTime(std.IssuedAt),
		NotBefore: optionalTime(std.NotBefore),
	}, nil
}

// lookupClaim returns the claim called name, or, when there is none and the
// name has dots, the value at that path through nested objects.
func lookupClaim(claims map[string]any, name string) any {
	if val, ok := claims[name]; ok {
		return val
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[part]
	}
	return cur
}

func optionalTime(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time()
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// checkURL accepts absolute http and https URLs.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("parsing %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
