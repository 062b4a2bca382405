// Package store defines the agent's non-secret records: wallets, entities,
// API-key hashes and DID records. Nothing stored here is secret; seeds and
// generic secrets live in a secret.Store.
//
// Every wallet-scoped method takes the wallet id explicitly, so that an
// implementation can enforce isolation in the database itself (PostgreSQL
// row-level security) as well as in its queries. A few methods are
// cross-wallet by nature and belong to the operator: CreateWallet,
// SeedDigestInUse, ListWallets, GetEntity, ListEntities, UpdateEntity,
// DeleteEntity, AddAPIKey, DeleteAPIKey and LookupAPIKey (which runs before
// the wallet is known). Every other method concerns the one wallet it names
// and may see only that wallet's records; a method added later must say
// which kind it is.
package store

import (
	"context"
	"errors"
	"time"
)

// Domain outcomes, checked with errors.Is.
var (
	ErrNotFound    = errors.New("record not found")
	ErrConflict    = errors.New("record already exists")
	ErrUnavailable = errors.New("database unavailable")
)

// WalletState is whether a wallet may be used.
type WalletState string

// Wallet states.
const (
	WalletActive   WalletState = "ACTIVE"
	WalletDisabled WalletState = "DISABLED"
)

// Wallet is the non-secret record of a wallet. Its seed lives in the secret
// store at "<id>/seed"; SeedDigest is a keyed hash of the seed, so that a
// second wallet with the same seed can be refused without reading secrets.
type Wallet struct {
	ID         string
	Name       string
	State      WalletState
	SeedDigest []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Entity is a principal bound to one wallet.
type Entity struct {
	ID        string
	Name      string
	WalletID  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// APIKey is the record of a tenant API key: only its keyed hash is kept.
type APIKey struct {
	Hash      []byte
	EntityID  string
	CreatedAt time.Time
}

// Principal is what an API key resolves to.
type Principal struct {
	Entity Entity
	Wallet Wallet
}

// DID is the record of a managed PRISM DID. It keeps what is needed to
// derive the DID's keys again from the wallet seed, never the keys.
type DID struct {
	WalletID  string
	DIDIndex  int
	ShortForm string // did:prism:<hash>
	LongForm  string
	Status    string // CREATED
	// Keys is the DID's key layout (ids, purposes, curves, key indices) as
	// JSON, owned by the DID package.
	Keys      []byte
	CreatedAt time.Time
}

// Page bounds a list query.
type Page struct {
	Offset int
	Limit  int
}

// Store is the non-secret store. Implementations: SQLite and PostgreSQL.
type Store interface {
	// CreateWallet inserts a wallet; ErrConflict if the id or the seed
	// digest is taken.
	CreateWallet(ctx context.Context, w Wallet) error
	GetWallet(ctx context.Context, id string) (Wallet, error)
	// SeedDigestInUse reports whether a wallet with this seed digest
	// exists, so that a duplicate seed is refused before anything is
	// written to the secret store.
	SeedDigestInUse(ctx context.Context, digest []byte) (bool, error)
	// ListWallets returns one page ordered by creation time then id, and
	// the total number of wallets.
	ListWallets(ctx context.Context, p Page) ([]Wallet, int, error)
	SetWalletState(ctx context.Context, id string, s WalletState) error

	CreateEntity(ctx context.Context, e Entity) error
	GetEntity(ctx context.Context, id string) (Entity, error)
	ListEntities(ctx context.Context, p Page) ([]Entity, int, error)
	UpdateEntity(ctx context.Context, e Entity) error
	// DeleteEntity removes the entity and its API keys.
	DeleteEntity(ctx context.Context, id string) error

	// AddAPIKey stores a key hash for an entity; ErrConflict if the hash
	// is already registered (to any entity).
	AddAPIKey(ctx context.Context, k APIKey) error
	// DeleteAPIKey removes the hash if it belongs to the entity.
	DeleteAPIKey(ctx context.Context, entityID string, hash []byte) error
	// LookupAPIKey resolves a key hash to its entity and wallet.
	LookupAPIKey(ctx context.Context, hash []byte) (Principal, error)

	// NextDIDIndex atomically allocates the wallet's next did-index
	// (0, 1, 2, ...), safe across concurrent callers and processes.
	NextDIDIndex(ctx context.Context, walletID string) (int, error)
	CreateDID(ctx context.Context, d DID) error
	// GetDID finds a DID of the wallet by short form.
	GetDID(ctx context.Context, walletID, shortForm string) (DID, error)
	ListDIDs(ctx context.Context, walletID string, p Page) ([]DID, int, error)

	Ping(ctx context.Context) error
	Close() error
}
