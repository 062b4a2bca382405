// Package storetest is the behaviour every store.Store implementation must
// have, written once as a test suite that each implementation runs against
// its real database.
package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/store"
)

// Run runs the suite. open must return a store on a fresh, empty database
// each time it is called, and close it (and drop the database) through
// t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name string
		run  func(*testing.T, func(*testing.T) store.Store)
	}{
		{"Wallets", testWallets},
		{"ListWallets", testListWallets},
		{"Entities", testEntities},
		{"ListEntities", testListEntities},
		{"DeleteEntity", testDeleteEntity},
		{"APIKeys", testAPIKeys},
		{"NextDIDIndex", testNextDIDIndex},
		{"DIDs", testDIDs},
		{"ListDIDs", testListDIDs},
		{"PingClose", testPingClose},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, open) })
	}
}

// errOther stands, in a case's wantErr, for an error that is none of the
// store's domain errors: a caller's bug such as an invalid record.
var errOther = errors.New("an error other than the store's domain errors")

// checkErr fails t unless err matches want: nil, errOther, or a domain
// error found with errors.Is.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil:
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
	case want == errOther:
		if err == nil {
			t.Fatal("err = nil, want an error")
		}
		for _, domain := range []error{store.ErrNotFound, store.ErrConflict, store.ErrUnavailable} {
			if errors.Is(err, domain) {
				t.Fatalf("err = %v, want an error that is not %v", err, domain)
			}
		}
	default:
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
	}
}

// equal fails t unless got and want are deeply equal: stores must return
// exactly what the normalised record was, times and nil slices included.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// base is a time that no store keeps as it is: nanoseconds and a zone
// other than UTC, so that round trips test normalisation.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("UTC+2", 2*60*60))

// at is base plus sec seconds.
func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

// norm is t as stores return it: UTC, microseconds.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func digest(s string) []byte {
	d := sha256.Sum256([]byte("seed digest of " + s))
	return d[:]
}

func newWallet(id string, sec int) store.Wallet {
	return store.Wallet{
		ID:         id,
		Name:       "wallet " + id,
		State:      store.WalletActive,
		SeedDigest: digest(id),
		CreatedAt:  at(sec),
		UpdatedAt:  at(sec),
	}
}

func storedWallet(w store.Wallet) store.Wallet {
	w.CreatedAt, w.UpdatedAt = norm(w.CreatedAt), norm(w.UpdatedAt)
	return w
}

func newEntity(id, walletID string, sec int) store.Entity {
	return store.Entity{
		ID:        id,
		Name:      "entity " + id,
		WalletID:  walletID,
		CreatedAt: at(sec),
		UpdatedAt: at(sec),
	}
}

func storedEntity(e store.Entity) store.Entity {
	e.CreatedAt, e.UpdatedAt = norm(e.CreatedAt), norm(e.UpdatedAt)
	return e
}

func newAPIKey(name, entityID string) store.APIKey {
	h := sha256.Sum256([]byte("api key " + name))
	return store.APIKey{Hash: h[:], EntityID: entityID, CreatedAt: at(0)}
}

func newDID(walletID string, index, sec int) store.DID {
	hash := sha256.Sum256(fmt.Appendf(nil, "%s/%d", walletID, index))
	short := fmt.Sprintf("did:prism:%x", hash)
	return store.DID{
		WalletID:  walletID,
		DIDIndex:  index,
		ShortForm: short,
		LongForm:  short + ":Cj8KPRI7CgdtYXN0ZXIwEAFKLgoJc2VjcDI1NmsxEiEC",
		Status:    "CREATED",
		// Whitespace and key order are kept: the store must hand back
		// the DID package's bytes unchanged.
		Keys:      []byte(`{"master0": {"purpose": "master", "curve": "secp256k1", "keyIndex": 0}}`),
		CreatedAt: at(sec),
	}
}

func storedDID(d store.DID) store.DID {
	d.CreatedAt = norm(d.CreatedAt)
	return d
}

func mustCreateWallet(t *testing.T, s store.Store, w store.Wallet) {
	t.Helper()
	if err := s.CreateWallet(t.Context(), w); err != nil {
		t.Fatalf("creating wallet %s: %v", w.ID, err)
	}
}

func mustCreateEntity(t *testing.T, s store.Store, e store.Entity) {
	t.Helper()
	if err := s.CreateEntity(t.Context(), e); err != nil {
		t.Fatalf("creating entity %s: %v", e.ID, err)
	}
}

func mustAddAPIKey(t *testing.T, s store.Store, k store.APIKey) {
	t.Helper()
	if err := s.AddAPIKey(t.Context(), k); err != nil {
		t.Fatalf("adding api key: %v", err)
	}
}

func mustCreateDID(t *testing.T, s store.Store, d store.DID) {
	t.Helper()
	if err := s.CreateDID(t.Context(), d); err != nil {
		t.Fatalf("creating did %s: %v", d.ShortForm, err)
	}
}

// pageCase is one list query and what it must return.
type pageCase struct {
	name      string
	page      store.Page
	wantIDs   []string
	wantTotal int
	wantErr   error
}

// checkPage runs list for each case and compares the ids it returns.
func checkPage[T any](t *testing.T, cases []pageCase,
	list func(store.Page) ([]T, int, error), id func(T) string,
) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := list(tc.page)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if got == nil {
				t.Fatal("page is nil, want an empty slice at least")
			}
			ids := make([]string, 0, len(got))
			for _, v := range got {
				ids = append(ids, id(v))
			}
			if len(ids) != len(tc.wantIDs) || (len(ids) > 0 && !reflect.DeepEqual(ids, tc.wantIDs)) {
				t.Fatalf("ids = %v, want %v", ids, tc.wantIDs)
			}
			if total != tc.wantTotal {
				t.Fatalf("total = %d, want %d", total, tc.wantTotal)
			}
		})
	}
}
