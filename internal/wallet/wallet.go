// Package wallet owns a wallet's secrets: its seed and its generic secrets.
// It decides where each secret lives in the secret store (the layout shared
// with the Identus Cloud Agent) and keeps the two stores consistent: a seed
// is written, write-once, before the wallet record that refers to it.
package wallet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/store"
)

// Domain outcomes, checked with errors.Is.
var (
	ErrNotFound     = errors.New("wallet not found")
	ErrExists       = errors.New("a wallet with this id or seed already exists")
	ErrInvalidName  = errors.New("invalid name")
	ErrInvalidInput = errors.New("invalid input")
	// ErrSeedMissing: the wallet record exists but its seed does not; the
	// wallet cannot be used until an operator restores the seed.
	ErrSeedMissing = errors.New("wallet seed is missing from the secret store")
)

// SeedLength is the length of a wallet seed in bytes.
const SeedLength = 64

// DefaultID is the id of the single-tenant default wallet and of its
// entity, the same as in the Identus Cloud Agent.
const DefaultID = "00000000-0000-0000-0000-000000000000"

// MaxNameLength is the longest wallet name.
const MaxNameLength = 128

// SecretAccess gives the secret store through which one wallet's secrets
// are reached. With the agent's own Vault token it is the same store for
// every wallet; in the isolated modes each wallet gets a store that uses
// that wallet's own Vault token.
type SecretAccess interface {
	Secrets(ctx context.Context, walletID string) (secret.Store, error)
}

// SharedAccess is a SecretAccess that uses one store for every wallet.
type SharedAccess struct{ Store secret.Store }

// Secrets returns the shared store.
func (a SharedAccess) Secrets(context.Context, string) (secret.Store, error) { return a.Store, nil }

// Identities gives wallets their own identity in the secret store's
// access control (Vault entities), in the modes where each wallet reads
// its secrets with its own token.
type Identities interface {
	// EnsureWallet creates or repairs the wallet's identity; idempotent.
	EnsureWallet(ctx context.Context, walletID string) error
	// SetDisabled disables or enables the identity; a disabled identity's
	// tokens stop working at once.
	SetDisabled(ctx context.Context, walletID string, disabled bool) error
}

// Service creates and opens wallets.
type Service struct {
	records    store.Store
	access     SecretAccess
	identities Identities // nil when wallets share the agent's account
	hasher     *iam.Hasher
	logger     *slog.Logger

	// missing remembers wallets whose seed was found missing, so that
	// readiness reports them instead of requests failing one by one.
	mu      sync.Mutex
	missing map[string]bool
}

// NewService returns a wallet Service. identities may be nil.
func NewService(records store.Store, access SecretAccess, identities Identities, hasher *iam.Hasher,
	logger *slog.Logger) *Service {
	return &Service{records: records, access: access, identities: identities, hasher: hasher,
		logger: logger, missing: map[string]bool{}}
}

// CreateParams are the inputs of a new wallet. A nil Seed means a fresh
// one from the CSPRNG; an empty ID means a new UUID.
type CreateParams struct {
	ID   string
	Name string
	Seed []byte
	// ReuseStoredSeed accepts a seed already stored at the wallet's path
	// when Seed is nil: the recovery path of the default wallet after a
	// crash between storing the seed and the wallet record.
	ReuseStoredSeed bool
}

func seedPath(walletID string) secret.Path { return secret.Path{Dir: walletID, Name: "seed"} }

func genericPath(walletID, name string) secret.Path {
	return secret.Path{Dir: walletID + "/generic-secrets", Name: name}
}

// Create stores a new wallet: first its seed (write-once), then its record.
// A duplicate id or seed gives ErrExists and changes nothing.
func (s *Service) Create(ctx context.Context, p CreateParams) (store.Wallet, error) {
	if err := validateCreate(&p); err != nil {
		return store.Wallet{}, err
	}
	if _, err := s.records.GetWallet(ctx, p.ID); err == nil {
		return store.Wallet{}, ErrExists
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Wallet{}, fmt.Errorf("checking wallet id: %w", err)
	}

	if p.Seed != nil {
		inUse, err := s.records.SeedDigestInUse(ctx, s.hasher.Seed(p.Seed))
		if err != nil {
			return store.Wallet{}, fmt.Errorf("checking seed: %w", err)
		}
		if inUse {
			return store.Wallet{}, ErrExists
		}
	}

	// The identity comes first: in the isolated modes the seed can only be
	// written with the wallet's own token.
	if err := s.EnsureIdentity(ctx, p.ID); err != nil {
		return store.Wallet{}, err
	}
	secrets, err := s.access.Secrets(ctx, p.ID)
	if err != nil {
		return store.Wallet{}, err
	}
	seed, err := s.storeSeed(ctx, secrets, p)
	if err != nil {
		return store.Wallet{}, err
	}
	defer clear(seed)

	rec := store.Wallet{ID: p.ID, Name: p.Name, State: store.WalletActive, SeedDigest: s.hasher.Seed(seed)}
	if err := s.records.CreateWallet(ctx, rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Wallet{}, ErrExists
		}
		return store.Wallet{}, fmt.Errorf("storing wallet record: %w", err)
	}
	s.logger.Info("wallet created", "wallet_id", p.ID)
	return s.records.GetWallet(ctx, p.ID)
}

// storeSeed writes the wallet's seed once and returns the seed in force.
func (s *Service) storeSeed(ctx context.Context, secrets secret.Store, p CreateParams) ([]byte, error) {
	seed := p.Seed
	if seed == nil {
		seed = make([]byte, SeedLength)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("generating seed: %w", err)
		}
	} else {
		seed = append([]byte(nil), seed...)
	}
	cas := 0
	_, err := secrets.Put(ctx, seedPath(p.ID), hex.EncodeToString(seed), secret.PutOptions{CAS: &cas})
	if err == nil {
		return seed, nil
	}
	if !errors.Is(err, secret.ErrCASMismatch) {
		clear(seed)
		return nil, fmt.Errorf("storing seed: %w", err)
	}

	// A seed is already stored for this id without a wallet record. It is
	// never overwritten; it is adopted only if it is the seed asked for, or
	// if the caller recovers the default wallet without a configured seed.
	stored, err := readSeed(ctx, secrets, p.ID)
	if err != nil {
		clear(seed)
		return nil, err
	}
	switch {
	case p.Seed == nil && p.ReuseStoredSeed, p.Seed != nil && string(stored) == string(seed):
		clear(seed)
		s.logger.Info("wallet seed already stored, adopting it", "wallet_id", p.ID)
		return stored, nil
	default:
		clear(seed)
		clear(stored)
		return nil, ErrExists
	}
}

func validateCreate(p *CreateParams) error {
	if p.ID == "" {
		p.ID = uuid.NewString()
	} else if _, err := uuid.Parse(p.ID); err != nil || len(p.ID) != 36 {
		return fmt.Errorf("%w: id must be a UUID such as 123e4567-e89b-12d3-a456-426614174000", ErrInvalidInput)
	}
	p.ID = strings.ToLower(p.ID)
	if p.Name == "" || len(p.Name) > MaxNameLength || !utf8.ValidString(p.Name) || hasControl(p.Name) {
		return fmt.Errorf("%w: name must be 1 to %d printable characters", ErrInvalidInput, MaxNameLength)
	}
	if p.Seed != nil && len(p.Seed) != SeedLength {
		return fmt.Errorf("%w: seed must be %d bytes", ErrInvalidInput, SeedLength)
	}
	if p.Seed != nil && allZero(p.Seed) {
		// A seed of zeros is no secret: every key derived from it is public.
		return fmt.Errorf("%w: seed must not be all zeros", ErrInvalidInput)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

func readSeed(ctx context.Context, secrets secret.Store, walletID string) ([]byte, error) {
	sec, err := secrets.Get(ctx, seedPath(walletID), 0)
	if errors.Is(err, secret.ErrNotFound) {
		return nil, ErrSeedMissing
	}
	if err != nil {
		return nil, fmt.Errorf("reading seed: %w", err)
	}
	seed, err := hex.DecodeString(sec.Value)
	if err != nil || len(seed) != SeedLength {
		return nil, fmt.Errorf("reading seed: %w: stored seed is malformed", ErrSeedMissing)
	}
	return seed, nil
}

// Get returns a wallet record.
func (s *Service) Get(ctx context.Context, id string) (store.Wallet, error) {
	w, err := s.records.GetWallet(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Wallet{}, ErrNotFound
	}
	return w, err
}

// Open returns the Wallet for a record; it reaches the secret store only
// when a secret is used.
func (s *Service) Open(_ context.Context, rec store.Wallet) (*Wallet, error) {
	if rec.State != store.WalletActive {
		return nil, ErrNotFound
	}
	return &Wallet{rec: rec, svc: s}, nil
}

// CheckSeed verifies that the wallet's seed is stored; readiness uses it.
func (s *Service) CheckSeed(ctx context.Context, walletID string) error {
	secrets, err := s.access.Secrets(ctx, walletID)
	if err != nil {
		return err
	}
	seed, err := readSeed(ctx, secrets, walletID)
	clear(seed)
	s.noteSeed(walletID, err)
	return err
}

// MissingSeeds lists the wallets whose seed was found missing, sorted.
func (s *Service) MissingSeeds() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.missing))
	for id := range s.missing {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (s *Service) noteSeed(walletID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, ErrSeedMissing):
		if !s.missing[walletID] {
			s.logger.Error("wallet seed is missing", "wallet_id", walletID)
		}
		s.missing[walletID] = true
	case err == nil:
		delete(s.missing, walletID)
	}
}

// Wallet is one tenant's wallet. It reaches the secret store, through
// the Service's SecretAccess, only when an operation needs a secret: a
// request that lists DIDs costs no wallet token. A Wallet serves one
// request and is not safe for concurrent use.
type Wallet struct {
	rec     store.Wallet
	secrets secret.Store // nil until first needed
	svc     *Service
}

// store returns the secret store of the wallet, obtaining it on first use.
func (w *Wallet) store(ctx context.Context) (secret.Store, error) {
	if w.secrets == nil {
		st, err := w.svc.access.Secrets(ctx, w.rec.ID)
		if err != nil {
			return nil, err
		}
		w.secrets = st
	}
	return w.secrets, nil
}

// ID returns the wallet id.
func (w *Wallet) ID() string { return w.rec.ID }

// Record returns the wallet's record.
func (w *Wallet) Record() store.Wallet { return w.rec }

// Seed returns a copy of the wallet seed; the caller clears it after use.
func (w *Wallet) Seed(ctx context.Context) ([]byte, error) {
	st, err := w.store(ctx)
	if err != nil {
		return nil, err
	}
	seed, err := readSeed(ctx, st, w.rec.ID)
	w.svc.noteSeed(w.rec.ID, err)
	return seed, err
}

// List returns one page of wallet records and the total number.
func (s *Service) List(ctx context.Context, p store.Page) ([]store.Wallet, int, error) {
	return s.records.ListWallets(ctx, p)
}

// EnsureIdentity creates or repairs the wallet's identity in the secret
// store's access control, when the mode has one.
func (s *Service) EnsureIdentity(ctx context.Context, walletID string) error {
	if s.identities == nil {
		return nil
	}
	if err := s.identities.EnsureWallet(ctx, walletID); err != nil {
		return fmt.Errorf("creating the wallet's identity: %w", err)
	}
	return nil
}

// SetState disables or enables a wallet. The identity changes first, so
// that a failure leaves the wallet as it was; both steps are idempotent.
func (s *Service) SetState(ctx context.Context, id string, state store.WalletState) (store.Wallet, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return store.Wallet{}, err
	}
	if s.identities != nil {
		if err := s.identities.SetDisabled(ctx, id, state == store.WalletDisabled); err != nil {
			return store.Wallet{}, fmt.Errorf("updating the wallet's identity: %w", err)
		}
	}
	if err := s.records.SetWalletState(ctx, id, state); err != nil {
		return store.Wallet{}, fmt.Errorf("updating wallet state: %w", err)
	}
	s.logger.Info("wallet state changed", "wallet_id", id, "state", string(state))
	return s.Get(ctx, id)
}

// Bearer is a tenant's verified JWT, carried in the request context so
// that, in the jwt mode, the Wallet logs into Vault as the tenant.
type Bearer struct {
	Token  string
	Expiry time.Time
}

type bearerKey struct{}

// WithBearer returns ctx carrying the tenant's verified JWT.
func WithBearer(ctx context.Context, b Bearer) context.Context {
	return context.WithValue(ctx, bearerKey{}, b)
}

// BearerFrom returns the tenant's JWT carried by ctx.
func BearerFrom(ctx context.Context) (Bearer, bool) {
	b, ok := ctx.Value(bearerKey{}).(Bearer)
	return b, ok
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
