package storetest

import (
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/store"
)

func testWallets(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	existing := newWallet("w-existing", 0)
	mustCreateWallet(t, s, existing)

	t.Run("SeedDigestInUse", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			digest []byte
			want   bool
		}{
			{"ok/in use", existing.SeedDigest, true},
			{"ok/unused", digest("never-used"), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.SeedDigestInUse(t.Context(), tc.digest)
				if err != nil || got != tc.want {
					t.Fatalf("SeedDigestInUse = %v, %v; want %v", got, err, tc.want)
				}
			})
		}
	})

	t.Run("CreateWallet", func(t *testing.T) {
		noDigest := newWallet("w-no-digest", 1)
		noDigest.SeedDigest = nil
		emptyDigest := newWallet("w-empty-digest", 2)
		emptyDigest.SeedDigest = []byte{}
		noState := newWallet("w-no-state", 3)
		noState.State = ""
		disabled := newWallet("w-disabled", 4)
		disabled.State = store.WalletDisabled
		sameDigest := newWallet("w-same-digest", 5)
		sameDigest.SeedDigest = existing.SeedDigest
		badState := newWallet("w-bad-state", 6)
		badState.State = "PAUSED"

		cases := []struct {
			name    string
			wallet  store.Wallet
			want    store.Wallet // as read back, when wantErr is nil
			wantErr error
		}{
			{"ok", newWallet("w-new", 1), storedWallet(newWallet("w-new", 1)), nil},
			{"ok/no seed digest", noDigest, storedWallet(noDigest), nil},
			{"ok/empty seed digest is no seed digest", emptyDigest,
				storedWallet(withDigest(emptyDigest, nil)), nil},
			{"ok/zero state is active", noState,
				storedWallet(withState(noState, store.WalletActive)), nil},
			{"ok/disabled", disabled, storedWallet(disabled), nil},
			{"fail/duplicate id", withDigest(existing, digest("other")), store.Wallet{},
				store.ErrConflict},
			{"fail/duplicate seed digest", sameDigest, store.Wallet{}, store.ErrConflict},
			{"fail/unknown state", badState, store.Wallet{}, errOther},
			{"fail/empty id", newWallet("", 7), store.Wallet{}, errOther},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := s.CreateWallet(t.Context(), tc.wallet)
				checkErr(t, err, tc.wantErr)
				if tc.wantErr != nil {
					return
				}
				got, err := s.GetWallet(t.Context(), tc.wallet.ID)
				checkErr(t, err, nil)
				equal(t, "wallet", got, tc.want)
			})
		}
	})

	t.Run("CreateWallet/ok/zero times become now", func(t *testing.T) {
		w := newWallet("w-zero-times", 0)
		w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}
		mustCreateWallet(t, s, w)
		got, err := s.GetWallet(t.Context(), w.ID)
		checkErr(t, err, nil)
		for _, ts := range []time.Time{got.CreatedAt, got.UpdatedAt} {
			if ts.IsZero() || ts.Location() != time.UTC || ts.Nanosecond()%1000 != 0 {
				t.Fatalf("time = %v, want a non-zero UTC time in microseconds", ts)
			}
		}
	})

	t.Run("GetWallet", func(t *testing.T) {
		cases := []struct {
			name    string
			id      string
			want    store.Wallet
			wantErr error
		}{
			{"ok", existing.ID, storedWallet(existing), nil},
			{"fail/not found", "w-unknown", store.Wallet{}, store.ErrNotFound},
			{"fail/empty id", "", store.Wallet{}, store.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.GetWallet(t.Context(), tc.id)
				checkErr(t, err, tc.wantErr)
				equal(t, "wallet", got, tc.want)
			})
		}
	})

	t.Run("SetWalletState", func(t *testing.T) {
		w := newWallet("w-state", 0)
		mustCreateWallet(t, s, w)
		cases := []struct {
			name    string
			id      string
			state   store.WalletState
			wantErr error
		}{
			{"ok/disable", w.ID, store.WalletDisabled, nil},
			{"ok/disable again", w.ID, store.WalletDisabled, nil},
			{"ok/activate", w.ID, store.WalletActive, nil},
			{"fail/not found", "w-unknown", store.WalletDisabled, store.ErrNotFound},
			{"fail/unknown state", w.ID, "PAUSED", errOther},
			{"fail/empty state", w.ID, "", errOther},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := s.SetWalletState(t.Context(), tc.id, tc.state)
				checkErr(t, err, tc.wantErr)
				if tc.wantErr != nil {
					return
				}
				got, err := s.GetWallet(t.Context(), tc.id)
				checkErr(t, err, nil)
				if got.State != tc.state {
					t.Fatalf("state = %s, want %s", got.State, tc.state)
				}
				if !got.CreatedAt.Equal(norm(w.CreatedAt)) {
					t.Fatalf("created at = %v, want it kept as %v", got.CreatedAt, w.CreatedAt)
				}
				if got.UpdatedAt.Equal(norm(w.UpdatedAt)) {
					t.Fatal("updated at was not changed")
				}
			})
		}
		t.Run("ok/other wallets are not changed", func(t *testing.T) {
			checkErr(t, s.SetWalletState(t.Context(), w.ID, store.WalletDisabled), nil)
			got, err := s.GetWallet(t.Context(), existing.ID)
			checkErr(t, err, nil)
			equal(t, "other wallet", got, storedWallet(existing))
		})
	})
}

func withDigest(w store.Wallet, d []byte) store.Wallet {
	w.SeedDigest = d
	return w
}

func withState(w store.Wallet, st store.WalletState) store.Wallet {
	w.State = st
	return w
}

func testListWallets(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	list := func(p store.Page) ([]store.Wallet, int, error) {
		return s.ListWallets(t.Context(), p)
	}
	id := func(w store.Wallet) string { return w.ID }

	checkPage(t, []pageCase{{name: "ok/empty store", wantIDs: nil, wantTotal: 0}}, list, id)

	// Insertion order differs from the expected order, and w-b and w-c
	// share a creation time, so only "created_at, id" gives order.
	for _, w := range []store.Wallet{
		newWallet("w-e", 3), newWallet("w-c", 1), newWallet("w-a", 0),
		newWallet("w-d", 2), newWallet("w-b", 1),
	} {
		mustCreateWallet(t, s, w)
	}
	all := []string{"w-a", "w-b", "w-c", "w-d", "w-e"}
	checkPage(t, []pageCase{
		{"ok/default limit", store.Page{}, all, 5, nil},
		{"ok/first page", store.Page{Limit: 2}, all[0:2], 5, nil},
		{"ok/second page", store.Page{Offset: 2, Limit: 2}, all[2:4], 5, nil},
		{"ok/last partial page", store.Page{Offset: 4, Limit: 2}, all[4:], 5, nil},
		{"ok/past the end", store.Page{Offset: 10, Limit: 2}, nil, 5, nil},
		{"ok/offset only", store.Page{Offset: 3}, all[3:], 5, nil},
		{"fail/negative offset", store.Page{Offset: -1, Limit: 2}, nil, 0, errOther},
		{"fail/negative limit", store.Page{Limit: -1}, nil, 0, errOther},
	}, list, id)

	t.Run("ok/full records", func(t *testing.T) {
		got, _, err := s.ListWallets(t.Context(), store.Page{Limit: 1})
		checkErr(t, err, nil)
		equal(t, "wallets", got, []store.Wallet{storedWallet(newWallet("w-a", 0))})
	})
}
