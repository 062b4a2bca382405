package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/prism-agent/prism-agent/internal/did"
	"github.com/prism-agent/prism-agent/internal/store"
)

// DIDStatusCreated is the status of a DID created by the agent and not
// published on a ledger.
const DIDStatusCreated = "CREATED"

// ErrDIDNotFound is returned when the wallet has no such DID. Another
// wallet's DID gives the same error as an unknown one.
var ErrDIDNotFound = errors.New("DID not found")

// CreateDID allocates the wallet's next did-index, derives the DID's keys
// from the seed and records the DID. The record keeps the key layout
// (curves and indices), never a key.
func (w *Wallet) CreateDID(ctx context.Context, tmpl did.Template) (store.DID, error) {
	if err := tmpl.Validate(); err != nil {
		return store.DID{}, err
	}
	seed, err := w.Seed(ctx)
	if err != nil {
		return store.DID{}, err
	}
	defer clear(seed)

	index, err := w.svc.records.NextDIDIndex(ctx, w.rec.ID)
	if err != nil {
		return store.DID{}, fmt.Errorf("allocating did-index: %w", err)
	}
	created, err := did.Create(seed, index, tmpl)
	if err != nil {
		return store.DID{}, err
	}
	layout, err := json.Marshal(created.Layout)
	if err != nil {
		return store.DID{}, fmt.Errorf("encoding key layout: %w", err)
	}
	rec := store.DID{WalletID: w.rec.ID, DIDIndex: index, ShortForm: created.ShortForm,
		LongForm: created.LongForm, Status: DIDStatusCreated, Keys: layout}
	if err := w.svc.records.CreateDID(ctx, rec); err != nil {
		return store.DID{}, fmt.Errorf("storing DID record: %w", err)
	}
	w.svc.logger.Info("DID created", "wallet_id", w.rec.ID, "did_index", index)
	return w.svc.records.GetDID(ctx, w.rec.ID, created.ShortForm)
}

// DID finds one of the wallet's DIDs by its short or long form.
func (w *Wallet) DID(ctx context.Context, ref string) (store.DID, error) {
	d, err := did.Parse(ref)
	if err != nil {
		return store.DID{}, ErrDIDNotFound
	}
	rec, err := w.svc.records.GetDID(ctx, w.rec.ID, d.ShortForm())
	if errors.Is(err, store.ErrNotFound) {
		return store.DID{}, ErrDIDNotFound
	}
	if err != nil {
		return store.DID{}, err
	}
	// A long form names one create operation; a different operation with
	// the same hash cannot exist, but a caller's long form must match ours.
	if d.IsLongForm() && d.String() != rec.LongForm {
		return store.DID{}, ErrDIDNotFound
	}
	return rec, nil
}

// DIDs lists one page of the wallet's DIDs and their total number.
func (w *Wallet) DIDs(ctx context.Context, p store.Page) ([]store.DID, int, error) {
	return w.svc.records.ListDIDs(ctx, w.rec.ID, p)
}

// Sign signs payload with the key keyID of the wallet's DID ref and
// returns a compact JWS whose kid names ref as given.
func (w *Wallet) Sign(ctx context.Context, ref, keyID string, payload []byte) (string, error) {
	rec, err := w.DID(ctx, ref)
	if err != nil {
		return "", err
	}
	layout, err := did.ParseKeyLayout(rec.Keys)
	if err != nil {
		return "", err
	}
	if _, ok := layout.Key(keyID); !ok {
		return "", did.ErrKeyNotFound
	}
	seed, err := w.Seed(ctx)
	if err != nil {
		return "", err
	}
	defer clear(seed)
	return did.Sign(seed, ref, layout, keyID, payload)
}
