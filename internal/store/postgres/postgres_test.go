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
	"reflect"
	"slices"
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
func openURL(t testing.TB, url string, logger *slog.Logger, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, logger, opts...)
	if err != nil {
		t.Fatalf("opening postgres store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openAgent opens the store as production does: connected as the agent's
// role, migrated by the owner's.
func openAgent(t testing.TB, db testenv.PostgresDatabase, logger *slog.Logger) *Store {
	t.Helper()
	return openURL(t, db.AgentURL, logger, WithMigrationURL(db.OwnerURL))
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAgent(t, testenv.PostgresDB(t), nil)
	})
}

func TestStoreTwoInstances(t *testing.T) {
	storetest.RunMultiInstance(t, func(t *testing.T) (store.Store, store.Store) {
		db := testenv.PostgresDB(t)
		return openAgent(t, db, nil), openAgent(t, db, nil)
	})
}

func TestOpen(t *testing.T) {
	t.Run("ok/migrations logged once", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		var first, second syncBuffer
		openAgent(t, db, slog.New(slog.NewJSONHandler(&first, nil))).Close()
		openAgent(t, db, slog.New(slog.NewJSONHandler(&second, nil)))
		if got := appliedVersions(t, &first); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("first open applied versions %v, want [1 2]", got)
		}
		if got := appliedVersions(t, &second); len(got) != 0 {
			t.Fatalf("second open applied versions %v, want none", got)
		}
	})

	t.Run("ok/concurrent opens migrate once", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		var log syncBuffer
		logger := slog.New(slog.NewJSONHandler(&log, nil))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				s, err := Open(t.Context(), db.AgentURL, logger, WithMigrationURL(db.OwnerURL))
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
		if seen[1] != 1 || seen[2] != 1 {
			t.Fatalf("applied versions %v, want each once", got)
		}
		for v, n := range seen {
			if n != 1 {
				t.Fatalf("version %d applied %d times", v, n)
			}
		}
	})

	t.Run("ok/agent alone on a migrated database", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		openAgent(t, db, nil).Close()
		s := openURL(t, db.AgentURL, nil)
		if err := s.CreateWallet(t.Context(), store.Wallet{ID: "w"}); err != nil {
			t.Fatalf("creating wallet: %v", err)
		}
	})

	t.Run("ok/privileges granted to a group role", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		group := extraRole(t, db, "NOLOGIN")
		adminExec(t, db.AdminURL, "GRANT "+ident(group)+" TO "+ident(db.AgentRole))
		s := openURL(t, db.AgentURL, nil, WithMigrationURL(db.OwnerURL), WithAppRole(group))
		if err := s.CreateWallet(t.Context(), store.Wallet{ID: "w"}); err != nil {
			t.Fatalf("creating wallet through the group's privileges: %v", err)
		}
		var direct int
		err := s.pool.QueryRow(t.Context(), `SELECT count(*)
			FROM information_schema.table_privileges WHERE grantee = $1`,
			db.AgentRole).Scan(&direct)
		if err != nil {
			t.Fatal(err)
		}
		if direct != 0 {
			t.Fatalf("the login role holds %d privileges itself, want only the group's", direct)
		}
	})

	t.Run("fail/pending migrations without the owner", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		_, err := Open(t.Context(), db.AgentURL, nil)
		if err == nil || !strings.Contains(err.Error(), "set DATABASE_MIGRATION_URL") {
			t.Fatalf("err = %v, want a hint at DATABASE_MIGRATION_URL", err)
		}
		t.Logf("refused: %v", err)
	})

	t.Run("fail/app role without migration url", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		_, err := Open(t.Context(), db.AgentURL, nil, WithAppRole(db.AgentRole))
		if err == nil || !strings.Contains(err.Error(), "needs a migration url") {
			t.Fatalf("err = %v, want a refusal", err)
		}
	})

	t.Run("fail/unknown app role", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		_, err := Open(t.Context(), db.AgentURL, nil, WithMigrationURL(db.OwnerURL),
			WithAppRole("prism_test_no_such_role"))
		if err == nil || !strings.Contains(err.Error(), `"prism_test_no_such_role"`) {
			t.Fatalf("err = %v, want an error naming the role", err)
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
		u, err := url.Parse(testenv.PostgresDB(t).AgentURL)
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

	t.Run("fail/malformed migration url hides the password", func(t *testing.T) {
		db := testenv.PostgresDB(t)
		_, err := Open(t.Context(), db.AgentURL, nil,
			WithMigrationURL("postgres://owner:s3cr3t-pw@127.0.0.1:port/db"))
		if err == nil || !strings.Contains(err.Error(), "migration database url") {
			t.Fatalf("err = %v, want an error naming the migration url", err)
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
}

// TestOpenRefusesUnsafeDatabase checks that Open refuses every setup in
// which row-level security would not bind the agent's queries, with a
// message that names the problem and its fix.
func TestOpenRefusesUnsafeDatabase(t *testing.T) {
	cases := []struct {
		name string
		// setup breaks the database; it returns the URL the agent
		// connects with and Open's options.
		setup func(t *testing.T, db testenv.PostgresDatabase) (string, []Option)
		// want are in the message, with {agent} and {owner} standing for
		// the roles' names.
		want []string
	}{
		{"fail/superuser", func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
			return db.AdminURL, nil
		}, []string{"is a superuser", "DATABASE_MIGRATION_URL"}},
		{"fail/superuser with the owner migrating",
			func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
				return db.AdminURL, []Option{WithMigrationURL(db.OwnerURL)}
			}, []string{"is a superuser"}},
		{"fail/bypassrls", func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
			adminExec(t, db.AdminURL, "ALTER ROLE "+ident(db.AgentRole)+" BYPASSRLS")
			return db.AgentURL, []Option{WithMigrationURL(db.OwnerURL)}
		}, []string{`"{agent}" has BYPASSRLS`, "NOBYPASSRLS"}},
		{"fail/member of a superuser role",
			func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
				super := extraRole(t, db, "NOLOGIN SUPERUSER")
				adminExec(t, db.AdminURL, "GRANT "+ident(super)+" TO "+ident(db.AgentRole))
				return db.AgentURL, []Option{WithMigrationURL(db.OwnerURL)}
			}, []string{"is a member of", "a superuser", "REVOKE"}},
		{"fail/table owner", func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
			return db.OwnerURL, nil
		}, []string{`"{owner}" owns table wallets`, "DATABASE_MIGRATION_URL"}},
		{"fail/member of the table owner",
			func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
				adminExec(t, db.AdminURL, "GRANT "+ident(db.OwnerRole)+" TO "+ident(db.AgentRole))
				return db.AgentURL, []Option{WithMigrationURL(db.OwnerURL)}
			}, []string{`"{agent}" is a member of "{owner}", the owner of table wallets`,
				"REVOKE"}},
		{"fail/row-level security disabled",
			func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
				openAgent(t, db, nil).Close()
				ownerExec(t, db, "ALTER TABLE dids DISABLE ROW LEVEL SECURITY")
				return db.AgentURL, []Option{WithMigrationURL(db.OwnerURL)}
			}, []string{"not enabled and forced on table dids", "ENABLE ROW LEVEL SECURITY"}},
		{"fail/row-level security not forced",
			func(t *testing.T, db testenv.PostgresDatabase) (string, []Option) {
				openAgent(t, db, nil).Close()
				ownerExec(t, db, "ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY")
				return db.AgentURL, nil
			}, []string{"not enabled and forced on table api_keys", "FORCE ROW LEVEL SECURITY"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := testenv.PostgresDB(t)
			url, opts := tc.setup(t, db)
			s, err := Open(t.Context(), url, nil, opts...)
			if err == nil {
				_ = s.Close()
				t.Fatal("open succeeded, want a refusal")
			}
			if !errors.Is(err, ErrUnsafeDatabase) {
				t.Fatalf("err = %v, want %v", err, ErrUnsafeDatabase)
			}
			t.Logf("refused: %v", err)
			names := strings.NewReplacer("{agent}", db.AgentRole, "{owner}", db.OwnerRole)
			for _, w := range tc.want {
				if w = names.Replace(w); !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to say %q", err, w)
				}
			}
			for _, u := range []string{db.AgentURL, db.OwnerURL} {
				if pw, ok := mustParse(t, u).User.Password(); ok &&
					strings.Contains(err.Error(), pw) {
					t.Fatalf("error shows a password: %v", err)
				}
			}
		})
	}
}

// TestScopes checks the settings that row-level security relies on: set
// inside the transaction, gone after it.
func TestScopes(t *testing.T) {
	s := openAgent(t, testenv.PostgresDB(t), nil)
	const settings = `SELECT coalesce(current_setting('prism.wallet_id', true), ''),
		coalesce(current_setting('prism.scope', true), '')`

	t.Run("ok/wallet scope", func(t *testing.T) {
		var wallet, scope string
		err := s.inWallet(t.Context(), "w-scope", func(tx pgx.Tx) error {
			return tx.QueryRow(t.Context(), settings).Scan(&wallet, &scope)
		})
		if err != nil {
			t.Fatal(err)
		}
		if wallet != "w-scope" || scope != "" {
			t.Fatalf("wallet, scope = %q, %q, want w-scope and none", wallet, scope)
		}
	})
	t.Run("ok/operator scope", func(t *testing.T) {
		var wallet, scope string
		err := s.asOperator(t.Context(), func(tx pgx.Tx) error {
			return tx.QueryRow(t.Context(), settings).Scan(&wallet, &scope)
		})
		if err != nil {
			t.Fatal(err)
		}
		if wallet != "" || scope != "operator" {
			t.Fatalf("wallet, scope = %q, %q, want none and operator", wallet, scope)
		}
	})
	t.Run("ok/unset after", func(t *testing.T) {
		// Every pooled connection, so that the ones used above are among
		// them.
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
			var wallet, scope string
			if err := c.QueryRow(t.Context(), settings).Scan(&wallet, &scope); err != nil {
				t.Fatal(err)
			}
			if wallet != "" || scope != "" {
				t.Fatalf("wallet, scope = %q, %q outside a scoped transaction", wallet, scope)
			}
		}
	})
}

// TestRowLevelSecurity reads the tables with raw queries, as the agent's
// role and as the owner, in each scope: a query that forgot its wallet
// condition sees only the scope's rows, and none without a scope.
func TestRowLevelSecurity(t *testing.T) {
	db := testenv.PostgresDB(t)
	s := openAgent(t, db, nil)
	ctx := t.Context()
	for _, w := range []string{"w-a", "w-b"} {
		if err := s.CreateWallet(ctx, store.Wallet{ID: w}); err != nil {
			t.Fatal(err)
		}
		e := "e-" + strings.TrimPrefix(w, "w-")
		if err := s.CreateEntity(ctx, store.Entity{ID: e, WalletID: w}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddAPIKey(ctx, store.APIKey{Hash: []byte("key of " + e),
			EntityID: e}); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range []string{"w-a", "w-a", "w-b"} {
		idx, err := s.NextDIDIndex(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		d := store.DID{WalletID: w, DIDIndex: idx, ShortForm: fmt.Sprintf("did:prism:%d", i),
			LongForm: "l", Status: "CREATED", Keys: []byte(`{}`)}
		if err := s.CreateDID(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	owner, err := pgxpool.New(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)

	// Each table's rows, by the column that says whose they are.
	type rows struct{ wallets, entities, apiKeys, dids []string }
	none := rows{}
	all := rows{[]string{"w-a", "w-b"}, []string{"w-a", "w-b"}, []string{"e-a", "e-b"},
		[]string{"w-a", "w-a", "w-b"}}
	walletA := rows{[]string{"w-a"}, []string{"w-a"}, nil, []string{"w-a", "w-a"}}
	walletB := rows{[]string{"w-b"}, []string{"w-b"}, nil, []string{"w-b"}}
	set := func(name, value string) string {
		return fmt.Sprintf(`SELECT set_config('%s', '%s', true)`, name, value)
	}
	cases := []struct {
		name  string
		pool  *pgxpool.Pool
		scope []string // statements run first in the transaction
		want  rows
	}{
		{"ok/wallet a", s.pool, []string{set("prism.wallet_id", "w-a")}, walletA},
		{"ok/wallet b", s.pool, []string{set("prism.wallet_id", "w-b")}, walletB},
		{"ok/operator", s.pool, []string{set("prism.scope", "operator")}, all},
		{"ok/operator and a wallet", s.pool,
			[]string{set("prism.scope", "operator"), set("prism.wallet_id", "w-a")}, all},
		{"ok/no scope", s.pool, nil, none},
		{"ok/empty wallet id", s.pool, []string{set("prism.wallet_id", "")}, none},
		{"ok/unknown wallet", s.pool, []string{set("prism.wallet_id", "w-c")}, none},
		{"ok/another scope name", s.pool, []string{set("prism.scope", "admin")}, none},
		{"ok/owner with no scope", owner, nil, none},
		{"ok/owner as operator", owner, []string{set("prism.scope", "operator")}, all},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got rows
			err := pgx.BeginFunc(ctx, tc.pool, func(tx pgx.Tx) error {
				for _, q := range tc.scope {
					if _, err := tx.Exec(ctx, q); err != nil {
						return err
					}
				}
				got.wallets = column(t, tx, "wallets", "id")
				got.entities = column(t, tx, "entities", "wallet_id")
				got.apiKeys = column(t, tx, "api_keys", "entity_id")
				got.dids = column(t, tx, "dids", "wallet_id")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("rows seen:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	t.Run("ok/no scope outside a transaction", func(t *testing.T) {
		var n int
		err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM wallets) +
			(SELECT count(*) FROM entities) + (SELECT count(*) FROM api_keys) +
			(SELECT count(*) FROM dids)`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("an unscoped query sees %d rows, want 0", n)
		}
	})

	writes := []struct {
		name     string
		scope    string // wallet id; empty for none
		stmt     string
		wantRows int64 // when allowed
		refused  bool  // by a policy's check
	}{
		{"fail/insert a did of another wallet", "w-a",
			`INSERT INTO dids VALUES ('w-b', 9, 'did:prism:x', 'l', 'CREATED', '{}', now())`,
			0, true},
		{"fail/move an entity to another wallet", "w-a",
			`UPDATE entities SET wallet_id = 'w-b' WHERE id = 'e-a'`, 0, true},
		{"fail/insert an entity without a scope", "",
			`INSERT INTO entities VALUES ('e-x', 'x', 'w-a', now(), now())`, 0, true},
		{"fail/update another wallet", "w-a",
			`UPDATE wallets SET name = 'taken' WHERE id = 'w-b'`, 0, false},
		{"fail/delete another wallet's entity", "w-a",
			`DELETE FROM entities WHERE id = 'e-b'`, 0, false},
		{"fail/delete api keys in a wallet's scope", "w-a", `DELETE FROM api_keys`, 0, false},
		{"fail/update without a scope", "", `UPDATE dids SET status = 'x'`, 0, false},
		{"ok/update the scope's wallet", "w-a",
			`UPDATE wallets SET name = 'mine' WHERE id = 'w-a'`, 1, false},
	}
	for _, tc := range writes {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
			if tc.scope != "" {
				if _, err := tx.Exec(ctx, set("prism.wallet_id", tc.scope)); err != nil {
					t.Fatal(err)
				}
			}
			tag, err := tx.Exec(ctx, tc.stmt)
			var pgErr *pgconn.PgError
			switch {
			case tc.refused:
				if !errors.As(err, &pgErr) || pgErr.Code != insufficientPrivilege {
					t.Fatalf("err = %v, want a row-level security refusal", err)
				}
			case err != nil:
				t.Fatal(err)
			case tag.RowsAffected() != tc.wantRows:
				t.Fatalf("rows affected = %d, want %d", tag.RowsAffected(), tc.wantRows)
			}
		})
	}
}

// column returns the values of one column of every row of table that tx
// sees, in order, nil for none.
func column(t *testing.T, tx pgx.Tx, table, col string) []string {
	t.Helper()
	rows, err := tx.Query(t.Context(), `SELECT * FROM `+ident(table))
	if err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	maps, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	var out []string
	for _, m := range maps {
		out = append(out, m[col].(string))
	}
	slices.Sort(out)
	return out
}

// extraRole creates a role with the attributes, dropped after the
// database.
func extraRole(t *testing.T, db testenv.PostgresDatabase, attrs string) string {
	t.Helper()
	role := strings.ToLower("prism_test_extra_" + rand.Text()[:12])
	adminExec(t, db.AdminURL, "CREATE ROLE "+ident(role)+" "+attrs)
	// The database's own cleanup was registered earlier, so it runs
	// later; revoking first lets the role go while the database exists.
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		conn, err := pgx.Connect(ctx, db.AdminURL)
		if err != nil {
			t.Errorf("dropping role: %v", err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		for _, q := range []string{"DROP OWNED BY " + ident(role), "DROP ROLE " + ident(role)} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	return role
}

func adminExec(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(t.Context())) }()
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func ownerExec(t *testing.T, db testenv.PostgresDatabase, sql string) {
	t.Helper()
	adminExec(t, db.OwnerURL, sql)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
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
	storetest.BenchLookupAPIKey(b, openAgent(b, testenv.PostgresDB(b), nil))
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
