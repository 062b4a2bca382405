// Package iam authenticates the callers of the agent: tenants by API key and
// the operator by the admin token.
//
// API keys are never stored. The record store keeps HMAC-SHA256 digests
// keyed by a server-side key, so a stolen database does not reveal keys and
// cannot be brute-forced offline without that key. A digest lookup by index
// is safe from timing attacks: the digest of a guess tells the attacker
// nothing about the digest of the real key.
package iam

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/prism-agent/prism-agent/internal/store"
)

// ErrUnauthenticated is returned for every failed authentication, whatever
// the reason, so that callers cannot tell an unknown key from a disabled
// wallet.
var ErrUnauthenticated = errors.New("unauthenticated")

// Hasher computes keyed digests of API keys and seeds.
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher keyed with key (at least 32 bytes).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("hash key must be at least 32 bytes, got %d", len(key))
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// digest separates the uses of the key by a domain label, so that an API
// key digest can never equal a seed digest.
func (h *Hasher) digest(label string, data []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// APIKey returns the stored form of an API key.
func (h *Hasher) APIKey(key string) []byte { return h.digest("prism-agent/api-key", []byte(key)) }

// Seed returns the stored digest of a wallet seed, used to refuse a second
// wallet with the same seed.
func (h *Hasher) Seed(seed []byte) []byte { return h.digest("prism-agent/seed", seed) }

// Authenticator resolves credentials to principals.
type Authenticator struct {
	hasher     *Hasher
	records    store.Store
	adminToken []byte // digest of the admin token
}

// NewAuthenticator returns an Authenticator for the given admin token.
func NewAuthenticator(h *Hasher, records store.Store, adminToken string) *Authenticator {
	return &Authenticator{hasher: h, records: records, adminToken: h.APIKey(adminToken)}
}

// Admin reports whether token is the admin token, in constant time.
func (a *Authenticator) Admin(token string) bool {
	if token == "" {
		return false
	}
	return hmac.Equal(a.hasher.APIKey(token), a.adminToken)
}

// Tenant resolves an API key to its entity and wallet. A missing key, an
// unknown key and a key of a disabled wallet all give ErrUnauthenticated
// (FailureReason tells them apart, for metrics and logs); a database
// failure is returned as is, so that it renders as 503.
func (a *Authenticator) Tenant(ctx context.Context, apiKey string) (store.Principal, error) {
	if apiKey == "" {
		return store.Principal{}, errMissing
	}
	digest := a.hasher.APIKey(apiKey)
	p, err := a.records.LookupAPIKey(ctx, digest)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Principal{}, errUnknown
	case err != nil:
		return store.Principal{}, fmt.Errorf("looking up api key: %w", err)
	case p.Wallet.State != store.WalletActive:
		return store.Principal{}, errDisabled
	}
	return p, nil
}

// RegisterAPIKey stores the digest of apiKey for an entity. Registering
// the same key again for the same entity is not an error.
func (a *Authenticator) RegisterAPIKey(ctx context.Context, entityID, apiKey string) error {
	digest := a.hasher.APIKey(apiKey)
	err := a.records.AddAPIKey(ctx, store.APIKey{Hash: digest, EntityID: entityID})
	if errors.Is(err, store.ErrConflict) {
		p, lookupErr := a.records.LookupAPIKey(ctx, digest)
		if lookupErr == nil && p.Entity.ID == entityID {
			return nil
		}
	}
	return err
}
