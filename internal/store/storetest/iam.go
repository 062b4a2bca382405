package storetest

import (
	"fmt"
	"testing"

	"github.com/prism-agent/prism-agent/internal/store"
)

func testEntities(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	mustCreateWallet(t, s, newWallet("w-1", 0))
	mustCreateWallet(t, s, newWallet("w-2", 0))
	existing := newEntity("e-existing", "w-1", 0)
	mustCreateEntity(t, s, existing)

	t.Run("CreateEntity", func(t *testing.T) {
		cases := []struct {
			name    string
			entity  store.Entity
			wantErr error
		}{
			{"ok", newEntity("e-new", "w-1", 1), nil},
			{"ok/second entity of a wallet", newEntity("e-new-2", "w-1", 2), nil},
			{"fail/unknown wallet", newEntity("e-orphan", "w-unknown", 1), store.ErrNotFound},
			{"fail/duplicate id", newEntity(existing.ID, "w-2", 1), store.ErrConflict},
			{"fail/empty id", newEntity("", "w-1", 1), errOther},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := s.CreateEntity(t.Context(), tc.entity)
				checkErr(t, err, tc.wantErr)
				if tc.wantErr != nil {
					return
				}
				got, err := s.GetEntity(t.Context(), tc.entity.ID)
				checkErr(t, err, nil)
				equal(t, "entity", got, storedEntity(tc.entity))
			})
		}
	})

	t.Run("GetEntity", func(t *testing.T) {
		cases := []struct {
			name    string
			id      string
			want    store.Entity
			wantErr error
		}{
			{"ok", existing.ID, storedEntity(existing), nil},
			{"fail/not found", "e-unknown", store.Entity{}, store.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.GetEntity(t.Context(), tc.id)
				checkErr(t, err, tc.wantErr)
				equal(t, "entity", got, tc.want)
			})
		}
	})

	t.Run("UpdateEntity", func(t *testing.T) {
		e := newEntity("e-update", "w-1", 0)
		mustCreateEntity(t, s, e)
		renamed := e
		renamed.Name, renamed.UpdatedAt = "renamed", at(10)
		moved := renamed
		moved.WalletID, moved.UpdatedAt = "w-2", at(20)
		orphan := moved
		orphan.WalletID = "w-unknown"

		cases := []struct {
			name    string
			entity  store.Entity
			wantErr error
		}{
			{"ok/rename", renamed, nil},
			{"ok/move to another wallet", moved, nil},
			{"fail/not found", newEntity("e-unknown", "w-1", 0), store.ErrNotFound},
			{"fail/unknown wallet", orphan, store.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := s.UpdateEntity(t.Context(), tc.entity)
				checkErr(t, err, tc.wantErr)
				if tc.wantErr != nil {
					return
				}
				got, err := s.GetEntity(t.Context(), tc.entity.ID)
				checkErr(t, err, nil)
				want := storedEntity(tc.entity)
				want.CreatedAt = norm(e.CreatedAt)
				equal(t, "entity", got, want)
			})
		}
		t.Run("ok/failed update changes nothing", func(t *testing.T) {
			got, err := s.GetEntity(t.Context(), e.ID)
			checkErr(t, err, nil)
			equal(t, "entity", got, storedEntity(moved))
		})
	})
}

func testListEntities(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	mustCreateWallet(t, s, newWallet("w-1", 0))
	list := func(p store.Page) ([]store.Entity, int, error) {
		return s.ListEntities(t.Context(), p)
	}
	id := func(e store.Entity) string { return e.ID }

	checkPage(t, []pageCase{{name: "ok/empty store", wantIDs: nil, wantTotal: 0}}, list, id)

	// 101 entities, so that the default page size (100) shows; ids sort
	// like their creation times except e-000 and e-001, which tie.
	var all []string
	for i := range 101 {
		all = append(all, fmt.Sprintf("e-%03d", i))
	}
	for i := 100; i >= 0; i-- {
		mustCreateEntity(t, s, newEntity(all[i], "w-1", max(i, 1)))
	}
	checkPage(t, []pageCase{
		{"ok/default limit is 100", store.Page{}, all[:100], 101, nil},
		{"ok/first page", store.Page{Limit: 3}, all[:3], 101, nil},
		{"ok/middle page", store.Page{Offset: 50, Limit: 3}, all[50:53], 101, nil},
		{"ok/last page", store.Page{Offset: 100, Limit: 3}, all[100:], 101, nil},
		{"ok/past the end", store.Page{Offset: 101}, nil, 101, nil},
		{"ok/limit above total", store.Page{Limit: 500}, all, 101, nil},
		{"fail/negative offset", store.Page{Offset: -5}, nil, 0, errOther},
	}, list, id)
}

func testDeleteEntity(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	mustCreateWallet(t, s, newWallet("w-1", 0))
	mustCreateEntity(t, s, newEntity("e-1", "w-1", 0))
	mustCreateEntity(t, s, newEntity("e-2", "w-1", 0))
	key1, key2 := newAPIKey("one", "e-1"), newAPIKey("two", "e-1")
	other := newAPIKey("other", "e-2")
	for _, k := range []store.APIKey{key1, key2, other} {
		mustAddAPIKey(t, s, k)
	}

	cases := []struct {
		name    string
		id      string
		wantErr error
	}{
		{"ok", "e-1", nil},
		{"fail/deleted twice", "e-1", store.ErrNotFound},
		{"fail/not found", "e-unknown", store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, s.DeleteEntity(t.Context(), tc.id), tc.wantErr)
			_, err := s.GetEntity(t.Context(), tc.id)
			checkErr(t, err, store.ErrNotFound)
		})
	}

	t.Run("ok/api keys are deleted with the entity", func(t *testing.T) {
		for _, k := range []store.APIKey{key1, key2} {
			_, err := s.LookupAPIKey(t.Context(), k.Hash)
			checkErr(t, err, store.ErrNotFound)
		}
		// The hash is free again: the row is gone, not just hidden.
		mustAddAPIKey(t, s, newAPIKey("one", "e-2"))
	})
	t.Run("ok/other entities keep their keys", func(t *testing.T) {
		p, err := s.LookupAPIKey(t.Context(), other.Hash)
		checkErr(t, err, nil)
		if p.Entity.ID != "e-2" {
			t.Fatalf("entity = %s, want e-2", p.Entity.ID)
		}
	})
}

func testAPIKeys(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w1, w2 := newWallet("w-1", 0), newWallet("w-2", 1)
	mustCreateWallet(t, s, w1)
	mustCreateWallet(t, s, w2)
	e1, e2 := newEntity("e-1", "w-1", 2), newEntity("e-2", "w-2", 3)
	mustCreateEntity(t, s, e1)
	mustCreateEntity(t, s, e2)
	existing := newAPIKey("existing", "e-1")
	mustAddAPIKey(t, s, existing)

	t.Run("AddAPIKey", func(t *testing.T) {
		cases := []struct {
			name    string
			key     store.APIKey
			wantErr error
		}{
			{"ok", newAPIKey("new", "e-1"), nil},
			{"ok/second key of the entity", newAPIKey("new-2", "e-1"), nil},
			{"fail/duplicate hash", existing, store.ErrConflict},
			{"fail/hash of another entity", store.APIKey{Hash: existing.Hash, EntityID: "e-2"},
				store.ErrConflict},
			{"fail/unknown entity", newAPIKey("orphan", "e-unknown"), store.ErrNotFound},
			{"fail/empty hash", store.APIKey{EntityID: "e-1"}, errOther},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				checkErr(t, s.AddAPIKey(t.Context(), tc.key), tc.wantErr)
			})
		}
	})

	t.Run("LookupAPIKey", func(t *testing.T) {
		other := newAPIKey("of e-2", "e-2")
		mustAddAPIKey(t, s, other)
		cases := []struct {
			name    string
			hash    []byte
			want    store.Principal
			wantErr error
		}{
			{"ok", existing.Hash,
				store.Principal{Entity: storedEntity(e1), Wallet: storedWallet(w1)}, nil},
			{"ok/other tenant", other.Hash,
				store.Principal{Entity: storedEntity(e2), Wallet: storedWallet(w2)}, nil},
			{"fail/not found", newAPIKey("unknown", "e-1").Hash, store.Principal{},
				store.ErrNotFound},
			{"fail/empty hash", nil, store.Principal{}, store.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.LookupAPIKey(t.Context(), tc.hash)
				checkErr(t, err, tc.wantErr)
				equal(t, "principal", got, tc.want)
			})
		}
	})

	t.Run("DeleteAPIKey", func(t *testing.T) {
		k := newAPIKey("to delete", "e-1")
		mustAddAPIKey(t, s, k)
		cases := []struct {
			name      string
			entityID  string
			hash      []byte
			wantErr   error
			wantFound bool // whether k still resolves afterwards
		}{
			{"fail/key of another entity", "e-2", k.Hash, store.ErrNotFound, true},
			{"fail/unknown entity", "e-unknown", k.Hash, store.ErrNotFound, true},
			{"ok", "e-1", k.Hash, nil, false},
			{"fail/deleted twice", "e-1", k.Hash, store.ErrNotFound, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				checkErr(t, s.DeleteAPIKey(t.Context(), tc.entityID, tc.hash), tc.wantErr)
				_, err := s.LookupAPIKey(t.Context(), k.Hash)
				if tc.wantFound {
					checkErr(t, err, nil)
				} else {
					checkErr(t, err, store.ErrNotFound)
				}
			})
		}
		t.Run("ok/other keys of the entity stay", func(t *testing.T) {
			_, err := s.LookupAPIKey(t.Context(), existing.Hash)
			checkErr(t, err, nil)
		})
	})
}
