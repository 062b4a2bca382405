// Package norm validates and normalises records and page bounds before they
// reach a database, so that the SQLite and PostgreSQL stores accept and
// return exactly the same values.
package norm

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prism-agent/prism-agent/internal/store"
)

// DefaultLimit is the page size used when a Page leaves Limit at zero.
const DefaultLimit = 100

// ErrInvalid marks a record or page that no store would accept; it is a
// caller's bug, not a database outcome.
var ErrInvalid = errors.New("invalid record")

// Page returns the limit and offset of p, with the default limit applied.
func Page(p store.Page) (limit, offset int, err error) {
	if p.Offset < 0 {
		return 0, 0, fmt.Errorf("%w: negative page offset %d", ErrInvalid, p.Offset)
	}
	if p.Limit < 0 {
		return 0, 0, fmt.Errorf("%w: negative page limit %d", ErrInvalid, p.Limit)
	}
	if p.Limit == 0 {
		return DefaultLimit, p.Offset, nil
	}
	return p.Limit, p.Offset, nil
}

// Time returns t in UTC truncated to microseconds, the precision both
// databases keep, so that a record read back compares equal to the one
// written. A zero t becomes the current time.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// WalletState checks that s is a known state.
func WalletState(s store.WalletState) error {
	switch s {
	case store.WalletActive, store.WalletDisabled:
		return nil
	}
	return fmt.Errorf("%w: unknown wallet state %q", ErrInvalid, s)
}

// Wallet returns w ready to insert: a zero state becomes ACTIVE, an empty
// seed digest becomes absent (NULL) and timestamps are normalised.
func Wallet(w store.Wallet) (store.Wallet, error) {
	if w.ID == "" {
		return w, fmt.Errorf("%w: empty wallet id", ErrInvalid)
	}
	if w.State == "" {
		w.State = store.WalletActive
	}
	if err := WalletState(w.State); err != nil {
		return w, err
	}
	if len(w.SeedDigest) == 0 {
		w.SeedDigest = nil
	}
	w.CreatedAt = Time(w.CreatedAt)
	w.UpdatedAt = Time(w.UpdatedAt)
	return w, nil
}

// Entity returns e ready to insert or update, timestamps normalised.
func Entity(e store.Entity) (store.Entity, error) {
	if e.ID == "" {
		return e, fmt.Errorf("%w: empty entity id", ErrInvalid)
	}
	if e.WalletID == "" {
		return e, fmt.Errorf("%w: empty wallet id", ErrInvalid)
	}
	e.CreatedAt = Time(e.CreatedAt)
	e.UpdatedAt = Time(e.UpdatedAt)
	return e, nil
}

// APIKey returns k ready to insert, its timestamp normalised.
func APIKey(k store.APIKey) (store.APIKey, error) {
	if len(k.Hash) == 0 {
		return k, fmt.Errorf("%w: empty api key hash", ErrInvalid)
	}
	if k.EntityID == "" {
		return k, fmt.Errorf("%w: empty entity id", ErrInvalid)
	}
	k.CreatedAt = Time(k.CreatedAt)
	return k, nil
}

// DID returns d ready to insert. Keys must be JSON: PostgreSQL would refuse
// anything else, and SQLite must refuse the same.
func DID(d store.DID) (store.DID, error) {
	switch {
	case d.WalletID == "":
		return d, fmt.Errorf("%w: empty wallet id", ErrInvalid)
	case d.ShortForm == "":
		return d, fmt.Errorf("%w: empty did short form", ErrInvalid)
	case d.DIDIndex < 0:
		return d, fmt.Errorf("%w: negative did index %d", ErrInvalid, d.DIDIndex)
	case !json.Valid(d.Keys):
		return d, fmt.Errorf("%w: did keys are not json", ErrInvalid)
	}
	d.CreatedAt = Time(d.CreatedAt)
	return d, nil
}
