package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/prism-agent/prism-agent/internal/store"
)

// concurrentCallers is how many goroutines race for did-indices.
const concurrentCallers = 50

func testNextDIDIndex(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	mustCreateWallet(t, s, newWallet("w-a", 0))
	mustCreateWallet(t, s, newWallet("w-b", 0))

	cases := []struct {
		name     string
		walletID string
		want     int
		wantErr  error
	}{
		{"ok/first", "w-a", 0, nil},
		{"ok/second", "w-a", 1, nil},
		{"ok/other wallet counts on its own", "w-b", 0, nil},
		{"ok/third", "w-a", 2, nil},
		{"fail/unknown wallet", "w-unknown", 0, store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.NextDIDIndex(t.Context(), tc.walletID)
			checkErr(t, err, tc.wantErr)
			if got != tc.want {
				t.Fatalf("index = %d, want %d", got, tc.want)
			}
		})
	}

	t.Run("ok/concurrent callers get distinct indices", func(t *testing.T) {
		mustCreateWallet(t, s, newWallet("w-race", 0))
		got := allocateConcurrently(t, "w-race", s)
		checkIndices(t, got, concurrentCallers)
	})
}

// allocateConcurrently calls NextDIDIndex from concurrentCallers goroutines,
// spread over the stores, and returns the indices in ascending order.
func allocateConcurrently(t *testing.T, walletID string, stores ...store.Store) []int {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		indices []int
	)
	start := make(chan struct{})
	for i := range concurrentCallers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			idx, err := s.NextDIDIndex(t.Context(), walletID)
			if err != nil {
				t.Errorf("allocating did index: %v", err)
				return
			}
			mu.Lock()
			indices = append(indices, idx)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(indices)
	return indices
}

// checkIndices fails t unless got is exactly 0..n-1.
func checkIndices(t *testing.T, got []int, n int) {
	t.Helper()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("indices = %v, want 0..%d each once", got, n-1)
	}
}

func testDIDs(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	mustCreateWallet(t, s, newWallet("w-a", 0))
	mustCreateWallet(t, s, newWallet("w-b", 0))
	existing := newDID("w-a", 0, 0)
	mustCreateDID(t, s, existing)

	t.Run("CreateDID", func(t *testing.T) {
		sameShortForm := newDID("w-a", 7, 1)
		sameShortForm.ShortForm = existing.ShortForm
		otherWalletSame := existing
		otherWalletSame.WalletID = "w-b"
		badKeys := newDID("w-a", 8, 1)
		badKeys.Keys = []byte("master0")
		noKeys := newDID("w-a", 9, 1)
		noKeys.Keys = nil

		cases := []struct {
			name    string
			did     store.DID
			wantErr error
		}{
			{"ok", newDID("w-a", 1, 1), nil},
			{"ok/same short form and index in another wallet", otherWalletSame, nil},
			{"fail/duplicate short form", sameShortForm, store.ErrConflict},
			{"fail/duplicate index", newDID("w-a", 0, 1), store.ErrConflict},
			{"fail/unknown wallet", newDID("w-unknown", 0, 1), store.ErrNotFound},
			{"fail/keys are not json", badKeys, errOther},
			{"fail/no keys", noKeys, errOther},
			{"fail/negative index", newDID("w-a", -1, 1), errOther},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := s.CreateDID(t.Context(), tc.did)
				checkErr(t, err, tc.wantErr)
				if tc.wantErr != nil {
					return
				}
				got, err := s.GetDID(t.Context(), tc.did.WalletID, tc.did.ShortForm)
				checkErr(t, err, nil)
				equal(t, "did", got, storedDID(tc.did))
			})
		}
	})

	t.Run("GetDID", func(t *testing.T) {
		onlyA := newDID("w-a", 5, 2)
		mustCreateDID(t, s, onlyA)
		cases := []struct {
			name      string
			walletID  string
			shortForm string
			want      store.DID
			wantErr   error
		}{
			{"ok", "w-a", onlyA.ShortForm, storedDID(onlyA), nil},
			{"fail/not found", "w-a", "did:prism:unknown", store.DID{}, store.ErrNotFound},
			{"fail/did of another wallet", "w-b", onlyA.ShortForm, store.DID{},
				store.ErrNotFound},
			{"fail/unknown wallet", "w-unknown", onlyA.ShortForm, store.DID{},
				store.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.GetDID(t.Context(), tc.walletID, tc.shortForm)
				checkErr(t, err, tc.wantErr)
				equal(t, "did", got, tc.want)
			})
		}
	})
}

func testListDIDs(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	mustCreateWallet(t, s, newWallet("w-a", 0))
	mustCreateWallet(t, s, newWallet("w-b", 0))
	mustCreateWallet(t, s, newWallet("w-empty", 0))
	// Creation order differs from index order, and indices 1 and 2 share
	// a creation time: order is creation time, then index.
	a := []store.DID{newDID("w-a", 3, 0), newDID("w-a", 1, 1), newDID("w-a", 2, 1),
		newDID("w-a", 0, 2)}
	for _, d := range a {
		mustCreateDID(t, s, d)
	}
	b := newDID("w-b", 0, 0)
	mustCreateDID(t, s, b)
	short := func(ds ...store.DID) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ShortForm)
		}
		return out
	}

	listIn := func(walletID string) func(store.Page) ([]store.DID, int, error) {
		return func(p store.Page) ([]store.DID, int, error) {
			return s.ListDIDs(t.Context(), walletID, p)
		}
	}
	id := func(d store.DID) string { return d.ShortForm }
	t.Run("w-a", func(t *testing.T) {
		checkPage(t, []pageCase{
			{"ok/default limit", store.Page{}, short(a...), 4, nil},
			{"ok/first page", store.Page{Limit: 2}, short(a[0], a[1]), 4, nil},
			{"ok/second page", store.Page{Offset: 2, Limit: 2}, short(a[2], a[3]), 4, nil},
			{"ok/past the end", store.Page{Offset: 4, Limit: 2}, nil, 4, nil},
			{"fail/negative offset", store.Page{Offset: -1}, nil, 0, errOther},
		}, listIn("w-a"), id)
	})
	t.Run("w-b", func(t *testing.T) {
		checkPage(t, []pageCase{
			{"ok/only its own dids", store.Page{}, short(b), 1, nil},
		}, listIn("w-b"), id)
	})
	t.Run("w-empty", func(t *testing.T) {
		checkPage(t, []pageCase{{"ok/none", store.Page{}, nil, 0, nil}}, listIn("w-empty"), id)
	})
	t.Run("w-unknown", func(t *testing.T) {
		checkPage(t, []pageCase{{"ok/none", store.Page{}, nil, 0, nil}}, listIn("w-unknown"), id)
	})
	t.Run("ok/full records", func(t *testing.T) {
		got, _, err := s.ListDIDs(t.Context(), "w-b", store.Page{})
		checkErr(t, err, nil)
		equal(t, "dids", got, []store.DID{storedDID(b)})
	})
}

func testPingClose(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	t.Run("ok/ping", func(t *testing.T) {
		checkErr(t, s.Ping(t.Context()), nil)
	})
	t.Run("ok/close", func(t *testing.T) {
		checkErr(t, s.Close(), nil)
	})
	t.Run("fail/ping after close", func(t *testing.T) {
		if err := s.Ping(t.Context()); err == nil {
			t.Fatal("ping after close succeeded")
		}
	})
	t.Run("fail/query after close", func(t *testing.T) {
		if _, err := s.GetWallet(t.Context(), "w"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want a closed-store error", err)
		}
	})
}

// RunMultiInstance checks that two stores on one database, as two agent
// instances would have, see each other's writes and never hand out the same
// did-index. open must return two separately opened stores (their own
// connections or pools) on one fresh database, closed through t.Cleanup.
func RunMultiInstance(t *testing.T, open func(t *testing.T) (store.Store, store.Store)) {
	t.Run("ok/writes of one are seen by the other", func(t *testing.T) {
		a, b := open(t)
		w := newWallet("w-shared", 0)
		mustCreateWallet(t, a, w)
		got, err := b.GetWallet(t.Context(), w.ID)
		checkErr(t, err, nil)
		equal(t, "wallet", got, storedWallet(w))
	})
	t.Run("fail/duplicate id across instances", func(t *testing.T) {
		a, b := open(t)
		mustCreateWallet(t, a, newWallet("w-dup", 0))
		checkErr(t, b.CreateWallet(t.Context(), newWallet("w-dup", 1)), store.ErrConflict)
	})
	t.Run("ok/concurrent callers on two instances get distinct indices", func(t *testing.T) {
		a, b := open(t)
		mustCreateWallet(t, a, newWallet("w-race", 0))
		got := allocateConcurrently(t, "w-race", a, b)
		checkIndices(t, got, concurrentCallers)
		next, err := b.NextDIDIndex(t.Context(), "w-race")
		checkErr(t, err, nil)
		if next != concurrentCallers {
			t.Fatalf("next index = %d, want %d", next, concurrentCallers)
		}
	})
}
