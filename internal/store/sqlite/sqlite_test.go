package sqlite

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/store/storetest"
)

// openFile opens the store at path and closes it when the test ends.
func openFile(t testing.TB, path string, logger *slog.Logger) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, logger)
	if err != nil {
		t.Fatalf("opening sqlite store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing sqlite store: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, filepath.Join(t.TempDir(), "agent.db"), nil)
	})
}

func TestStoreTwoInstances(t *testing.T) {
	storetest.RunMultiInstance(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "agent.db")
		return openFile(t, path, nil), openFile(t, path, nil)
	})
}

func TestOpen(t *testing.T) {
	t.Run("ok/file mode 0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "agent.db")
		s := openFile(t, path, nil)
		// A write makes SQLite create the -wal and -shm files too.
		if err := s.CreateWallet(t.Context(), store.Wallet{ID: "w"}); err != nil {
			t.Fatalf("creating wallet: %v", err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s: mode = %o, want 600", filepath.Base(p), mode)
			}
		}
	})

	t.Run("ok/pragmas", func(t *testing.T) {
		s := openFile(t, filepath.Join(t.TempDir(), "agent.db"), nil)
		want := map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"synchronous":  "1", // NORMAL
			"busy_timeout": "5000",
		}
		for name, db := range map[string]*sql.DB{"write": s.write, "read": s.read} {
			for pragma, value := range want {
				var got string
				if err := db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatalf("%s pool: reading %s: %v", name, pragma, err)
				}
				if got != value {
					t.Errorf("%s pool: %s = %s, want %s", name, pragma, got, value)
				}
			}
		}
		// Only the write pool may write.
		for db, want := range map[*sql.DB]string{s.write: "0", s.read: "1"} {
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&got); err != nil {
				t.Fatalf("reading query_only: %v", err)
			}
			if got != want {
				t.Errorf("query_only = %s, want %s", got, want)
			}
		}
	})

	t.Run("ok/path with uri characters", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a?b#c%20d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "agent.db")
		s := openFile(t, path, nil)
		if err := s.CreateWallet(t.Context(), store.Wallet{ID: "w"}); err != nil {
			t.Fatalf("creating wallet: %v", err)
		}
		// The write-ahead log sits next to the file SQLite really opened.
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Fatalf("database not at the given path: %v", err)
		}
	})

	t.Run("ok/migrations logged once", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "agent.db")
		var first, second bytes.Buffer
		openFile(t, path, slog.New(slog.NewJSONHandler(&first, nil))).Close()
		openFile(t, path, slog.New(slog.NewJSONHandler(&second, nil)))
		if got := appliedVersions(t, &first); len(got) == 0 || got[0] != 1 {
			t.Fatalf("first open applied versions %v, want 1 first", got)
		}
		if got := appliedVersions(t, &second); len(got) != 0 {
			t.Fatalf("second open applied versions %v, want none", got)
		}
	})

	t.Run("fail/missing folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "agent.db")
		if s, err := Open(t.Context(), path, nil); err == nil {
			s.Close()
			t.Fatal("open succeeded")
		}
	})

	t.Run("fail/not a database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "agent.db")
		if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite "), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(t.Context(), path, nil); err == nil {
			s.Close()
			t.Fatal("open succeeded")
		}
	})
}

// appliedVersions returns the versions of the "database migration
// applied" records in a JSON log.
func appliedVersions(t *testing.T, log *bytes.Buffer) []int64 {
	t.Helper()
	var versions []int64
	dec := json.NewDecoder(log)
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

func BenchmarkLookupAPIKey(b *testing.B) {
	storetest.BenchLookupAPIKey(b, openFile(b, filepath.Join(b.TempDir(), "agent.db"), nil))
}
