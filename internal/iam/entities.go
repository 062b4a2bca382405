package iam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/prism-agent/prism-agent/internal/store"
)

// Domain outcomes of entity and API-key management.
var (
	ErrInvalidInput = errors.New("invalid input")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("already exists")
)

// MinAPIKeyLength and MaxAPIKeyLength bound a tenant API key.
const (
	MinAPIKeyLength = 16
	MaxAPIKeyLength = 128
)

// MaxEntityNameLength is the longest entity name.
const MaxEntityNameLength = 128

// Entities manages the principals bound to wallets and their API keys.
type Entities struct {
	hasher  *Hasher
	records store.Store
}

// NewEntities returns an Entities service.
func NewEntities(h *Hasher, records store.Store) *Entities {
	return &Entities{hasher: h, records: records}
}

// Create adds an entity to an existing wallet; an empty id means a new UUID.
func (e *Entities) Create(ctx context.Context, id, name, walletID string) (store.Entity, error) {
	var err error
	if id, err = normaliseID(id, true); err != nil {
		return store.Entity{}, err
	}
	if err := validateEntityName(name); err != nil {
		return store.Entity{}, err
	}
	if walletID, err = normaliseID(walletID, false); err != nil {
		return store.Entity{}, fmt.Errorf("%w: walletId must be a UUID", ErrInvalidInput)
	}
	err = e.records.CreateEntity(ctx, store.Entity{ID: id, Name: name, WalletID: walletID})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Entity{}, fmt.Errorf("%w: no wallet with this walletId", ErrInvalidInput)
	case errors.Is(err, store.ErrConflict):
		return store.Entity{}, fmt.Errorf("%w: an entity with this id exists", ErrConflict)
	case err != nil:
		return store.Entity{}, fmt.Errorf("storing entity: %w", err)
	}
	return e.records.GetEntity(ctx, id)
}

// Get returns an entity.
func (e *Entities) Get(ctx context.Context, id string) (store.Entity, error) {
	id, err := normaliseID(id, false)
	if err != nil {
		return store.Entity{}, ErrNotFound
	}
	ent, err := e.records.GetEntity(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Entity{}, ErrNotFound
	}
	return ent, err
}

// List returns one page of entities and their total number.
func (e *Entities) List(ctx context.Context, p store.Page) ([]store.Entity, int, error) {
	return e.records.ListEntities(ctx, p)
}

// Rename changes an entity's name.
func (e *Entities) Rename(ctx context.Context, id, name string) (store.Entity, error) {
	if err := validateEntityName(name); err != nil {
		return store.Entity{}, err
	}
	ent, err := e.Get(ctx, id)
	if err != nil {
		return store.Entity{}, err
	}
	ent.Name = name
	return e.update(ctx, ent)
}

// MoveToWallet binds an entity to another existing wallet.
func (e *Entities) MoveToWallet(ctx context.Context, id, walletID string) (store.Entity, error) {
	walletID, err := normaliseID(walletID, false)
	if err != nil {
		return store.Entity{}, fmt.Errorf("%w: walletId must be a UUID", ErrInvalidInput)
	}
	ent, err := e.Get(ctx, id)
	if err != nil {
		return store.Entity{}, err
	}
	if _, err := e.records.GetWallet(ctx, walletID); errors.Is(err, store.ErrNotFound) {
		return store.Entity{}, fmt.Errorf("%w: no wallet with this walletId", ErrInvalidInput)
	} else if err != nil {
		return store.Entity{}, err
	}
	ent.WalletID = walletID
	return e.update(ctx, ent)
}

func (e *Entities) update(ctx context.Context, ent store.Entity) (store.Entity, error) {
	err := e.records.UpdateEntity(ctx, ent)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Entity{}, ErrNotFound
	case err != nil:
		return store.Entity{}, fmt.Errorf("updating entity: %w", err)
	}
	return e.records.GetEntity(ctx, ent.ID)
}

// Delete removes an entity and its API keys.
func (e *Entities) Delete(ctx context.Context, id string) error {
	id, err := normaliseID(id, false)
	if err != nil {
		return ErrNotFound
	}
	if err := e.records.DeleteEntity(ctx, id); errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("deleting entity: %w", err)
	}
	return nil
}

// AddAPIKey registers a key for an entity. A key belongs to one entity
// only: registering it for a second entity is a conflict.
func (e *Entities) AddAPIKey(ctx context.Context, entityID, apiKey string) error {
	if err := ValidateAPIKey(apiKey); err != nil {
		return err
	}
	if _, err := e.Get(ctx, entityID); err != nil {
		return err
	}
	digest := e.hasher.APIKey(apiKey)
	err := e.records.AddAPIKey(ctx, store.APIKey{Hash: digest, EntityID: entityID})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: this API key is already registered", ErrConflict)
	}
	return err
}

// RemoveAPIKey unregisters an entity's key; it fails at once afterwards.
func (e *Entities) RemoveAPIKey(ctx context.Context, entityID, apiKey string) error {
	if err := ValidateAPIKey(apiKey); err != nil {
		return err
	}
	entityID, err := normaliseID(entityID, false)
	if err != nil {
		return ErrNotFound
	}
	err = e.records.DeleteAPIKey(ctx, entityID, e.hasher.APIKey(apiKey))
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// ValidateAPIKey checks a tenant API key: 16 to 128 printable ASCII
// characters without spaces, so that it survives HTTP headers unchanged.
func ValidateAPIKey(k string) error {
	if len(k) < MinAPIKeyLength || len(k) > MaxAPIKeyLength {
		return fmt.Errorf("%w: apiKey must be %d to %d characters long", ErrInvalidInput,
			MinAPIKeyLength, MaxAPIKeyLength)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return fmt.Errorf("%w: apiKey must contain only printable ASCII characters without spaces",
				ErrInvalidInput)
		}
	}
	return nil
}

func validateEntityName(name string) error {
	if name == "" || len(name) > MaxEntityNameLength || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: name must be 1 to %d printable characters", ErrInvalidInput, MaxEntityNameLength)
	}
	return nil
}

// normaliseID checks that id is a UUID in its canonical form and lower
// case; an empty id is replaced by a new one when allowed.
func normaliseID(id string, generate bool) (string, error) {
	if id == "" && generate {
		return uuid.NewString(), nil
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", fmt.Errorf("%w: id must be a UUID such as 123e4567-e89b-12d3-a456-426614174000", ErrInvalidInput)
	}
	return u.String(), nil
}
