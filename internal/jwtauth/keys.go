package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
)

// fetchTimeout bounds one refresh (discovery and JWKS together), whatever
// the HTTP client's own timeout.
const fetchTimeout = 30 * time.Second

// minRSABits is the smallest RSA modulus accepted from a JWKS.
const minRSABits = 2048

// errUnknownKey means no key of the set fits the token's header; a refetch
// may find one.
var errUnknownKey = errors.New("no key matches the token header")

// keyCache is the Verifier's view of the issuer's JWKS.
type keyCache struct {
	mu          sync.Mutex
	jwksURL     string    // from Config.JWKSURL or discovery; "" until discovered
	set         *keySet   // nil until a fetch succeeded
	lastAttempt time.Time // start of the last fetch, successful or not
	lastErr     error     // error of the last fetch, nil after a success
}

// keySet is one fetched JWKS, reduced to the keys that can verify tokens.
type keySet struct {
	keys    []jose.JSONWebKey
	expires time.Time
}

// transientError marks a fetch failure that may heal by itself: the issuer
// is unreachable, slow, or answers with a server error.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// keys returns the current key set, fetching it when it has expired. When
// the issuer cannot be reached, an expired set stays in use: tokens signed
// with keys it knows keep working through an issuer outage.
func (v *Verifier) keys(ctx context.Context) (*keySet, error) {
	v.cache.mu.Lock()
	set := v.cache.set
	v.cache.mu.Unlock()
	if set != nil && v.now().Before(set.expires) {
		return set, nil
	}
	fresh, err := v.refresh(ctx)
	switch {
	case err == nil:
		return fresh, nil
	case set != nil:
		return set, nil
	}
	return nil, err
}

// refresh fetches the JWKS unless the last fetch started less than
// RefreshMinInterval ago, and returns the newest key set. Concurrent callers share one fetch. Errors wrap
// ErrUnavailable.
func (v *Verifier) refresh(ctx context.Context) (*keySet, error) {
	// The fetch is shared, so one caller's cancellation must not end it.
	fetchCtx := context.WithoutCancel(ctx)
	ch := v.flight.DoChan("jwks", func() (any, error) { return v.fetchLimited(fetchCtx) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*keySet), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// fetchLimited runs inside the single flight, so the rate-limit check and
// the fetch cannot interleave with another caller's.
func (v *Verifier) fetchLimited(ctx context.Context) (*keySet, error) {
	now := v.now()
	v.cache.mu.Lock()
	if !v.cache.lastAttempt.IsZero() && now.Sub(v.cache.lastAttempt) < v.minInterval {
		set, lastErr := v.cache.set, v.cache.lastErr
		v.cache.mu.Unlock()
		if set != nil {
			return set, nil
		}
		return nil, lastErr
	}
	v.cache.lastAttempt = now
	old := v.cache.set
	v.cache.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	set, err := v.fetch(ctx, now)

	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	if err != nil {
		v.cache.lastErr = fmt.Errorf("%w: %w", ErrUnavailable, err)
		v.log.Warn("jwt issuer keys fetch failed",
			"issuer", v.issuer, "keeping_previous_keys", old != nil, "error", err)
		return nil, v.cache.lastErr
	}
	v.cache.set, v.cache.lastErr = set, nil
	if old == nil || !slices.Equal(keyIDs(old), keyIDs(set)) {
		v.log.Info("jwt issuer keys fetched",
			"issuer", v.issuer, "key_ids", keyIDs(set), "cache_until", set.expires)
	}
	return set, nil
}

// fetch discovers the JWKS URL if needed and fetches the key set.
func (v *Verifier) fetch(ctx context.Context, now time.Time) (*keySet, error) {
	v.cache.mu.Lock()
	jwksURL := v.cache.jwksURL
	v.cache.mu.Unlock()
	if jwksURL == "" {
		u, err := v.discover(ctx)
		if err != nil {
			return nil, err
		}
		v.cache.mu.Lock()
		v.cache.jwksURL = u
		v.cache.mu.Unlock()
		jwksURL = u
	}

	body, header, err := v.get(ctx, jwksURL)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("reading JWKS from %s: %w", redact(jwksURL), err)
	}
	return &keySet{keys: keys, expires: now.Add(v.ttl(header))}, nil
}

// discover reads the OpenID discovery document and returns its jwks_uri.
func (v *Verifier) discover(ctx context.Context) (string, error) {
	body, _, err := v.get(ctx, v.discoveryURL)
	if err != nil {
		return "", fmt.Errorf("fetching discovery document: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("decoding discovery document from %s: %w", redact(v.discoveryURL), err)
	}
	// OpenID Connect Discovery 1.0, section 4.3: the document must name
	// exactly the issuer it was fetched for.
	if doc.Issuer != v.issuer {
		return "", fmt.Errorf("discovery document from %s names issuer %q, expected %q",
			redact(v.discoveryURL), doc.Issuer, v.issuer)
	}
	if err := checkURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery document jwks_uri: %w", err)
	}
	return doc.JWKSURI, nil
}

// get fetches a JSON document of at most MaxDocumentSize bytes.
func (v *Verifier) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("request for %s: %w", redact(u), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, nil, &transientError{err}
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("GET %s: status %d", redact(u), resp.StatusCode)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, nil, &transientError{err}
		}
		return nil, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentSize+1))
	if err != nil {
		return nil, nil, &transientError{fmt.Errorf("reading %s: %w", redact(u), err)}
	}
	if len(body) > MaxDocumentSize {
		return nil, nil, fmt.Errorf("GET %s: document larger than %d bytes", redact(u), MaxDocumentSize)
	}
	return body, resp.Header, nil
}

// ttl is CacheTTL, shortened by a smaller Cache-Control max-age (no-store
// and no-cache count as zero), but not below RefreshMinInterval.
func (v *Verifier) ttl(h http.Header) time.Duration {
	maxAge, ok := cacheMaxAge(h.Get("Cache-Control"))
	if !ok {
		return v.cacheTTL
	}
	return min(v.cacheTTL, max(maxAge, v.minInterval))
}

func cacheMaxAge(cc string) (time.Duration, bool) {
	for d := range strings.SplitSeq(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0, true
		case strings.HasPrefix(d, "max-age="):
			secs, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
			if err != nil || secs < 0 {
				continue
			}
			return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
		}
	}
	return 0, false
}

// parseJWKS keeps the keys that can verify signatures: RSA (at least
// minRSABits), ECDSA and Ed25519 public keys whose "use" is empty or "sig".
// Keys it cannot parse or use (symmetric keys, unknown types, encryption
// keys) are skipped, so that one odd key does not take down the set.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		// A JWKS must hold public keys only; if an issuer leaks a private
		// one, verification needs only its public half.
		if !k.IsPublic() {
			k = k.Public()
		}
		if usableKey(k.Key) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable signing key among %d keys", len(doc.Keys))
	}
	return keys, nil
}

func usableKey(key any) bool {
	switch key := key.(type) {
	case *rsa.PublicKey:
		return key != nil && key.N != nil && key.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		return key != nil
	case ed25519.PublicKey:
		return len(key) == ed25519.PublicKeySize
	}
	return false
}

// find returns the keys a token with header kid and alg may be verified
// with. With a kid, those are the keys of that kid (errUnknownKey if none)
// that fit alg (another error if none fits). Without a kid, the set must
// hold exactly one key that fits alg; otherwise the choice would be a
// guess, and the token is refused as naming no known key.
func (s *keySet) find(kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	var fit []jose.JSONWebKey
	named := 0
	for _, k := range s.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		named++
		if fits(k, alg) {
			fit = append(fit, k)
		}
	}
	switch {
	case kid == "" && len(fit) != 1:
		return nil, errUnknownKey
	case named == 0:
		return nil, errUnknownKey
	case len(fit) == 0:
		return nil, fmt.Errorf("key %q does not fit algorithm %s", kid, alg)
	}
	return fit, nil
}

// fits reports whether k may verify a signature made with alg: the key's
// own "alg", if any, must be alg, and its type (and curve) must be the
// one alg is defined for.
func fits(k jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return slices.Contains([]jose.SignatureAlgorithm{
			jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		}, alg)
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return key.Curve == elliptic.P256()
		case jose.ES384:
			return key.Curve == elliptic.P384()
		case jose.ES512:
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

func keyIDs(s *keySet) []string {
	ids := make([]string, len(s.keys))
	for i, k := range s.keys {
		ids[i] = k.KeyID
	}
	slices.Sort(ids)
	return ids
}

// redact drops a password from u for error messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
