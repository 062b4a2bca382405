package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/store/storetest"
	"github.com/prism-agent/prism-agent/internal/testenv"
)

// openURL opens the store at url and closes it when the test ends.
func openURL(t testing.TB, url string, logger *slog.Logger) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, logger)
	if err != nil {
		t.Fatalf("opening postgres store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openURL(t, testenv.PostgresURL(t), nil)
	})
}

func TestStoreTwoInstances(t *testing.T) {
	storetest.RunMultiInstance(t, func(t *testing.T) (store.Store, store.Store) {
		url := testenv.PostgresURL(t)
		return openURL(t, url, nil), openURL(t, url, nil)
	})
}

func TestOpen(t *testing.T) {
	t.Run("ok/migrations logged once", func(t *testing.T) {
		url := testenv.PostgresURL(t)
		var first, second syncBuffer
		openURL(t, url, slog.New(slog.NewJSONHandler(&first, nil))).Close()
		openURL(t, url, slog.New(slog.NewJSONHandler(&second, nil)))
		if got := appliedVersions(t, &first); len(got) == 0 || got[0] != 1 {
			t.Fatalf("first open applied versions %v, want 1 first", got)
		}
		if got := appliedVersions(t, &second); len(got) != 0 {
			t.Fatalf("second open applied versions %v, want none", got)
		}
	})

	t.Run("ok/concurrent opens migrate once", func(t *testing.T) {
		url := testenv.PostgresURL(t)
		var log syncBuffer
		logger := slog.New(slog.NewJSONHandler(&log, nil))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				s, err := Open(t.Context(), url, logger)
				if err != nil {
					t.Errorf("opening postgres store: %v", err)
					return
				}
				_ = s.Close()
			})
		}
		wg.Wait()
		got := appliedVersions(t, &log)
		seen := map[int64]int{}
		for _, v := range got {
			seen[v]++
		}
		if seen[1] != 1 {
			t.Fatalf("applied versions %v, want each once", got)
		}
		for v, n := range seen {
			if n != 1 {
				t.Fatalf("version %d applied %d times", v, n)
			}
		}
	})

	t.Run("fail/unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close() // nothing listens there any more
		_, err = Open(t.Context(), "postgres://postgres@"+addr+"/postgres?sslmode=disable", nil)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("err = %v, want %v", err, store.ErrUnavailable)
		}
	})

	t.Run("fail/unknown database", func(t *testing.T) {
		u, err := url.Parse(testenv.PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/prism_test_does_not_exist"
		_, err = Open(t.Context(), u.String(), nil)
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("err = %v, want a configuration error", err)
		}
	})

	t.Run("fail/malformed url hides the password", func(t *testing.T) {
		_, err := Open(t.Context(), "postgres://prism:s3cr3t-pw@127.0.0.1:port/db", nil)
		if err == nil {
			t.Fatal("open succeeded")
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
}

// TestInWallet checks the wallet scope that row-level security will rely
// on: set inside the transaction, gone after it.
func TestInWallet(t *testing.T) {
	s := openURL(t, testenv.PostgresURL(t), nil)
	const setting = `SELECT coalesce(current_setting('prism.wallet_id', true), '')`

	t.Run("ok/set inside", func(t *testing.T) {
		var got string
		err := s.inWallet(t.Context(), "w-scope", func(tx pgx.Tx) error {
			return tx.QueryRow(t.Context(), setting).Scan(&got)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != "w-scope" {
			t.Fatalf("prism.wallet_id = %q, want w-scope", got)
		}
	})
	t.Run("ok/unset after", func(t *testing.T) {
		// Every pooled connection, so that the one used above is among them.
		conns := make([]*pgxpool.Conn, 0, s.pool.Config().MaxConns)
		for range s.pool.Config().MaxConns {
			c, err := s.pool.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		defer func() {
			for _, c := range conns {
				c.Release()
			}
		}()
		for _, c := range conns {
			var got string
			if err := c.QueryRow(t.Context(), setting).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != "" {
				t.Fatalf("prism.wallet_id = %q outside a wallet transaction", got)
			}
		}
	})
}

// TestRowLevelSecurity puts the kind of policy a later schema adds on the
// dids table, and checks that the wallet-scoped methods still work as a
// role the policy applies to, while an unscoped query sees no DID.
func TestRowLevelSecurity(t *testing.T) {
	role := "prism_test_app_" + rand.Text()[:12]
	role = strings.ToLower(role)
	// Registered first, so that it runs after the database is dropped.
	t.Cleanup(func() { dropRole(t, role) })
	admin := testenv.PostgresURL(t)
	owner := openURL(t, admin, nil)
	setup := []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN`, role),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s`,
			role),
		`ALTER TABLE dids ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY dids_wallet ON dids
		 USING (wallet_id = current_setting('prism.wallet_id', true))`,
	}
	for _, q := range setup {
		if _, err := owner.pool.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	s := openURL(t, u.String(), nil)
	ctx := t.Context()

	for _, id := range []string{"w-a", "w-b"} {
		if err := s.CreateWallet(ctx, store.Wallet{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := s.NextDIDIndex(ctx, "w-a")
	if err != nil {
		t.Fatal(err)
	}
	d := store.DID{WalletID: "w-a", DIDIndex: idx, ShortForm: "did:prism:a", LongForm: "l",
		Status: "CREATED", Keys: []byte(`{}`)}
	if err := s.CreateDID(ctx, d); err != nil {
		t.Fatalf("creating did under the policy: %v", err)
	}
	if _, err := s.GetDID(ctx, "w-a", d.ShortForm); err != nil {
		t.Fatalf("getting did under the policy: %v", err)
	}
	if ds, total, err := s.ListDIDs(ctx, "w-a", store.Page{}); err != nil || total != 1 ||
		len(ds) != 1 {
		t.Fatalf("listing dids under the policy: %d of %d, %v", len(ds), total, err)
	}
	if _, total, err := s.ListDIDs(ctx, "w-b", store.Page{}); err != nil || total != 0 {
		t.Fatalf("listing another wallet's dids: total %d, %v", total, err)
	}
	var unscoped int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dids`).Scan(&unscoped); err != nil {
		t.Fatal(err)
	}
	if unscoped != 0 {
		t.Fatalf("an unscoped query sees %d dids, want 0: the policy is not in force", unscoped)
	}
}

func dropRole(t *testing.T, role string) {
	ctx := context.WithoutCancel(t.Context())
	conn, err := pgx.Connect(ctx, testenv.PostgresAdminURL())
	if err != nil {
		t.Errorf("dropping role: %v", err)
		return
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Errorf("dropping role: %v", err)
	}
}

func TestMapErr(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error // nil: none of the domain errors
	}{
		{"ok/unique violation", &pgconn.PgError{Code: "23505"}, store.ErrConflict},
		{"ok/foreign key violation", &pgconn.PgError{Code: "23503"}, store.ErrNotFound},
		{"ok/no rows", fmt.Errorf("scan: %w", pgx.ErrNoRows), store.ErrNotFound},
		{"ok/connection failure", &pgconn.PgError{Code: "08006"}, store.ErrUnavailable},
		{"ok/admin shutdown", &pgconn.PgError{Code: "57P01"}, store.ErrUnavailable},
		{"ok/too many connections", &pgconn.PgError{Code: "53300"}, store.ErrUnavailable},
		{"ok/network error", &net.OpError{Op: "dial", Err: errors.New("refused")},
			store.ErrUnavailable},
		{"ok/connection closed by server", io.ErrUnexpectedEOF, store.ErrUnavailable},
		{"ok/syntax error", &pgconn.PgError{Code: "42601"}, nil},
		{"ok/check violation", &pgconn.PgError{Code: "23514"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mapErr("doing", tc.err)
			if !strings.HasPrefix(got.Error(), "doing: ") {
				t.Fatalf("err = %v, want the operation first", got)
			}
			for _, domain := range []error{store.ErrConflict, store.ErrNotFound,
				store.ErrUnavailable} {
				if errors.Is(got, domain) != (domain == tc.want) {
					t.Fatalf("errors.Is(%v, %v) = %v", got, domain, !(domain == tc.want))
				}
			}
		})
	}
	if mapErr("doing", nil) != nil {
		t.Fatal("mapErr(nil) is not nil")
	}
}

func BenchmarkLookupAPIKey(b *testing.B) {
	storetest.BenchLookupAPIKey(b, openURL(b, testenv.PostgresURL(b), nil))
}

// appliedVersions returns the versions of the "database migration
// applied" records in a JSON log.
func appliedVersions(t *testing.T, log *syncBuffer) []int64 {
	t.Helper()
	var versions []int64
	dec := json.NewDecoder(bytes.NewReader(log.Bytes()))
	for dec.More() {
		var rec struct {
			Msg     string `json:"msg"`
			Level   string `json:"level"`
			Version int64  `json:"version"`
		}
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("decoding log: %v", err)
		}
		if rec.Msg == "database migration applied" {
			if rec.Level != "INFO" {
				t.Errorf("migration logged at %s, want INFO", rec.Level)
			}
			versions = append(versions, rec.Version)
		}
	}
	return versions
}

// syncBuffer is a bytes.Buffer that several loggers may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
