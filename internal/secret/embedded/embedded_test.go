package embedded_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/secret/embedded"
	"github.com/prism-agent/prism-agent/internal/secret/secrettest"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, embedded.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return key
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return hex.EncodeToString(b)
}

// openStore opens the store at path and closes it when the test ends.
func openStore(t *testing.T, path string, key []byte) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(t.Context(), path, key, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawDB opens the store's file directly, as an attacker with disk access
// would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("opening raw database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("raw SQL %q: %v", query, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		t.Fatalf("raw SQL %q changed %d rows (error %v), want some", query, n, err)
	}
}

// flipByte reads one blob with query, flips a bit in its middle byte (inside
// the sealed data) and writes it back with update.
func flipByte(t *testing.T, db *sql.DB, query, update string, key string) {
	t.Helper()
	var blob []byte
	if err := db.QueryRow(query, key).Scan(&blob); err != nil || len(blob) == 0 {
		t.Fatalf("reading blob: %d bytes, error %v", len(blob), err)
	}
	blob[len(blob)/2] ^= 0x01
	exec(t, db, update, blob, key)
}

func TestContract(t *testing.T) {
	secrettest.Run(t, func(t *testing.T) secret.Store {
		return openStore(t, filepath.Join(t.TempDir(), "secrets.db"), newKey(t))
	})
}

// TestContractSharedStore runs the suite against one store for all
// subtests, the way the Vault store shares one server.
func TestContractSharedStore(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "secrets.db"), newKey(t))
	secrettest.Run(t, func(*testing.T) secret.Store { return s })
}

func TestNoPlaintextOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	dbPath := filepath.Join(dir, "secrets.db")
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := embedded.Open(t.Context(), dbPath, newKey(t), logger)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}

	wallet := "w" + randomHex(t, 8)
	canary := "canary-" + randomHex(t, 16) + "-ключ"
	seed := randomHex(t, 64)
	ctx := t.Context()
	zero := 0
	if _, err := s.Put(ctx, secret.Path{Dir: wallet, Name: "seed"}, seed,
		secret.PutOptions{CAS: &zero}); err != nil {
		t.Fatalf("Put seed: %v", err)
	}
	generic := secret.Path{Dir: wallet + "/generic-secrets", Name: "api-token"}
	for range 3 {
		if _, err := s.Put(ctx, generic, canary, secret.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	if err := s.Delete(ctx, generic, 1); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, err := s.Get(ctx, generic, 0); err != nil || got.Value != canary {
		t.Fatalf("Get: error %v, or the value read back differs", err)
	}

	seedBytes, err := hex.DecodeString(seed)
	if err != nil {
		t.Fatalf("decoding seed: %v", err)
	}
	needles := map[string][]byte{}
	for name, v := range map[string][]byte{"canary": []byte(canary), "seed": []byte(seed),
		"seed bytes": seedBytes} {
		needles[name] = v
		needles[name+" hex"] = []byte(hex.EncodeToString(v))
		needles[name+" HEX"] = []byte(strings.ToUpper(hex.EncodeToString(v)))
		needles[name+" base64"] = []byte(base64.StdEncoding.EncodeToString(v))
		needles[name+" base64url"] = []byte(base64.RawURLEncoding.EncodeToString(v))
	}

	searchDir := func(t *testing.T, wantWAL bool) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("reading store directory: %v", err)
		}
		sawWAL := false
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatalf("reading %s: %v", e.Name(), err)
			}
			sawWAL = sawWAL || strings.HasSuffix(e.Name(), "-wal") && len(data) > 0
			for what, needle := range needles {
				if bytes.Contains(data, needle) {
					t.Errorf("%s contains the %s in plaintext", e.Name(), what)
				}
			}
		}
		if wantWAL && !sawWAL {
			t.Fatalf("no write-ahead log found among %d files; the search proves little", len(entries))
		}
	}
	t.Run("ok/open", func(t *testing.T) { searchDir(t, true) })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Run("ok/closed", func(t *testing.T) { searchDir(t, false) })
	t.Run("ok/logs", func(t *testing.T) {
		for what, needle := range needles {
			if bytes.Contains(logs.Bytes(), needle) {
				t.Errorf("logs contain the %s", what)
			}
		}
		if logs.Len() == 0 {
			t.Fatalf("no log output at all; the check proves little")
		}
	})
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new-dir")
	dbPath := filepath.Join(dir, "secrets.db")
	s := openStore(t, dbPath, newKey(t))
	p := secret.Path{Dir: "w", Name: "n"}
	if _, err := s.Put(t.Context(), p, "v", secret.PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}

	want := map[string]os.FileMode{
		dir: 0o700, dbPath: 0o600, dbPath + "-wal": 0o600, dbPath + "-shm": 0o600,
	}
	for path, mode := range want {
		t.Run("ok/"+filepath.Base(path), func(t *testing.T) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if got := fi.Mode().Perm(); got != mode {
				t.Fatalf("mode %#o, want %#o", got, mode)
			}
		})
	}

	t.Run("ok/existing-file-restricted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secrets.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatalf("creating file: %v", err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatalf("chmod: %v", err)
		}
		openStore(t, path, newKey(t))
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Fatalf("mode %#o after Open, want 0600", got)
		}
	})
}

func TestMasterKeyMismatch(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "secrets.db")
	key := newKey(t)
	p := secret.Path{Dir: "w1", Name: "seed"}
	s, err := embedded.Open(t.Context(), dbPath, key, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.Put(t.Context(), p, "the seed", secret.PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	t.Run("fail/other-key", func(t *testing.T) {
		_, err := embedded.Open(t.Context(), dbPath, newKey(t), nil)
		if !errors.Is(err, embedded.ErrWrongMasterKey) {
			t.Fatalf("Open with another key: got %v, want %v", err, embedded.ErrWrongMasterKey)
		}
		if !strings.Contains(err.Error(), "master key does not match the secret store") {
			t.Fatalf("error %q does not say the master key does not match", err)
		}
	})
	for _, n := range []int{0, 16, 31, 33} {
		t.Run(fmt.Sprintf("fail/%d-byte-key", n), func(t *testing.T) {
			if _, err := embedded.Open(t.Context(), dbPath, make([]byte, n), nil); err == nil {
				t.Fatalf("Open with a %d-byte key succeeded", n)
			}
		})
	}
	t.Run("ok/same-key-reopens", func(t *testing.T) {
		s := openStore(t, dbPath, key)
		got, err := s.Get(t.Context(), p, 0)
		if err != nil || got.Value != "the seed" {
			t.Fatalf("Get after reopening: %+v, %v", got, err)
		}
	})
}

func TestTampering(t *testing.T) {
	a1 := secret.Path{Dir: "wa/generic-secrets", Name: "one"}
	a2 := secret.Path{Dir: "wa/generic-secrets", Name: "two"}
	b1 := secret.Path{Dir: "wb/generic-secrets", Name: "one"}

	tests := []struct {
		name string
		// tamper alters the closed store's file; the test then reads p.
		tamper  func(t *testing.T, db *sql.DB)
		p       secret.Path
		version int
	}{
		{"fail/flipped-ciphertext-byte", func(t *testing.T, db *sql.DB) {
			flipByte(t, db, `SELECT ciphertext FROM secret_versions WHERE path = ? AND version = 2`,
				`UPDATE secret_versions SET ciphertext = ? WHERE path = ? AND version = 2`, a1.String())
		}, a1, 2},
		{"fail/truncated-ciphertext", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE secret_versions SET ciphertext = substr(ciphertext, 1, 10)
				WHERE path = ? AND version = 2`, a1.String())
		}, a1, 2},
		{"fail/version-swap", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE secret_versions SET ciphertext =
				(SELECT ciphertext FROM secret_versions WHERE path = ? AND version = 1)
				WHERE path = ? AND version = 2`, a1.String(), a1.String())
		}, a1, 2},
		{"fail/path-swap", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE secret_versions SET ciphertext =
				(SELECT ciphertext FROM secret_versions WHERE path = ? AND version = 1)
				WHERE path = ? AND version = 1`, a1.String(), a2.String())
		}, a2, 1},
		{"fail/namespace-swap", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE secret_versions SET ciphertext =
				(SELECT ciphertext FROM secret_versions WHERE path = ? AND version = 1)
				WHERE path = ? AND version = 1`, a1.String(), b1.String())
		}, b1, 1},
		{"fail/data-key-swap", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE data_keys SET wrapped =
				(SELECT wrapped FROM data_keys WHERE namespace = 'wa') WHERE namespace = 'wb'`)
		}, b1, 1},
		{"fail/flipped-data-key-byte", func(t *testing.T, db *sql.DB) {
			flipByte(t, db, `SELECT wrapped FROM data_keys WHERE namespace = ?`,
				`UPDATE data_keys SET wrapped = ? WHERE namespace = ?`, "wa")
		}, a1, 1},
		{"fail/data-key-removed", func(t *testing.T, db *sql.DB) {
			exec(t, db, `DELETE FROM data_keys WHERE namespace = 'wa'`)
		}, a1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbPath := filepath.Join(t.TempDir(), "secrets.db")
			key := newKey(t)
			s, err := embedded.Open(t.Context(), dbPath, key, nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			ctx := t.Context()
			for _, w := range []struct {
				p secret.Path
				v string
			}{{a1, "a1 v1"}, {a1, "a1 v2"}, {a2, "a2 v1"}, {b1, "b1 v1"}} {
				if _, err := s.Put(ctx, w.p, w.v, secret.PutOptions{}); err != nil {
					t.Fatalf("Put: %v", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			tc.tamper(t, rawDB(t, dbPath))

			s = openStore(t, dbPath, key)
			got, err := s.Get(ctx, tc.p, tc.version)
			if !errors.Is(err, embedded.ErrIntegrity) {
				t.Fatalf("Get after tampering: value %q, error %v; want %v",
					got.Value, err, embedded.ErrIntegrity)
			}
			if strings.Contains(err.Error(), " v1") || strings.Contains(err.Error(), " v2") {
				t.Fatalf("error %q quotes a secret value", err)
			}
		})
	}

	t.Run("fail/key-check-removed", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "secrets.db")
		s := openStore(t, dbPath, newKey(t))
		if _, err := s.Put(t.Context(), a1, "v", secret.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		exec(t, rawDB(t, dbPath), `DELETE FROM store_meta`)
		_, err := embedded.Open(t.Context(), dbPath, newKey(t), nil)
		if !errors.Is(err, embedded.ErrIntegrity) {
			t.Fatalf("Open without a key check value: got %v, want %v", err, embedded.ErrIntegrity)
		}
	})
}

func TestDestroyRemovesCiphertext(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "secrets.db")
	s, err := embedded.Open(t.Context(), dbPath, newKey(t), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	p := secret.Path{Dir: "w/generic-secrets", Name: "doomed"}
	value := "doomed value " + randomHex(t, 16)
	if _, err := s.Put(t.Context(), p, value, secret.PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	var ciphertext []byte
	if err := rawDB(t, dbPath).QueryRow(`SELECT ciphertext FROM secret_versions WHERE path = ?`,
		p.String()).Scan(&ciphertext); err != nil || len(ciphertext) == 0 {
		t.Fatalf("reading ciphertext: %d bytes, error %v", len(ciphertext), err)
	}
	if err := s.Destroy(t.Context(), p); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading store directory: %v", err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("reading %s: %v", e.Name(), err)
		}
		if bytes.Contains(data, ciphertext) {
			t.Errorf("%s still holds the destroyed ciphertext", e.Name())
		}
	}
}

func TestMaxVersions(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "secrets.db"), newKey(t))
	ctx := t.Context()
	p := secret.Path{Dir: "w/generic-secrets", Name: "busy"}
	for i := 1; i <= embedded.MaxVersions+2; i++ {
		if _, err := s.Put(ctx, p, fmt.Sprintf("v%d", i), secret.PutOptions{}); err != nil {
			t.Fatalf("Put #%d: %v", i, err)
		}
	}
	md, err := s.Metadata(ctx, p)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if md.OldestVersion != 3 || md.CurrentVersion != 12 || len(md.Versions) != embedded.MaxVersions {
		t.Fatalf("oldest %d, current %d, %d versions; want 3, 12, %d",
			md.OldestVersion, md.CurrentVersion, len(md.Versions), embedded.MaxVersions)
	}
	for _, v := range []int{1, 2} {
		if _, err := s.Get(ctx, p, v); !errors.Is(err, secret.ErrNotFound) {
			t.Fatalf("Get(%d) of a pruned version: got %v, want %v", v, err, secret.ErrNotFound)
		}
	}
	if got, err := s.Get(ctx, p, 3); err != nil || got.Value != "v3" {
		t.Fatalf("Get(3): %+v, %v", got, err)
	}
}

// TestOneDataKeyPerNamespace races first writes in one namespace through two
// Stores on one file, as two agent processes would.
func TestOneDataKeyPerNamespace(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "secrets.db")
	key := newKey(t)
	stores := []*embedded.Store{openStore(t, dbPath, key), openStore(t, dbPath, key)}

	const writers = 16
	start := make(chan struct{})
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			p := secret.Path{Dir: "fresh/generic-secrets", Name: fmt.Sprintf("n%02d", i)}
			_, errs[i] = stores[i%2].Put(context.Background(), p, fmt.Sprintf("value %d", i),
				secret.PutOptions{})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}

	var keys int
	if err := rawDB(t, dbPath).QueryRow(`SELECT count(*) FROM data_keys WHERE namespace = 'fresh'`).
		Scan(&keys); err != nil {
		t.Fatalf("counting data keys: %v", err)
	}
	if keys != 1 {
		t.Fatalf("namespace has %d data keys, want 1", keys)
	}
	fresh := openStore(t, dbPath, key)
	for i := range writers {
		p := secret.Path{Dir: "fresh/generic-secrets", Name: fmt.Sprintf("n%02d", i)}
		got, err := fresh.Get(t.Context(), p, 0)
		if err != nil || got.Value != fmt.Sprintf("value %d", i) {
			t.Fatalf("Get(%q) through a third store: %+v, %v", p, got, err)
		}
	}
}

func TestClosed(t *testing.T) {
	s, err := embedded.Open(t.Context(), filepath.Join(t.TempDir(), "secrets.db"), newKey(t), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	p := secret.Path{Dir: "w", Name: "seed"}
	if err := s.Ping(t.Context()); !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("Ping after Close: got %v, want %v", err, secret.ErrUnavailable)
	}
	if _, err := s.Get(t.Context(), p, 0); !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("Get after Close: got %v, want %v", err, secret.ErrUnavailable)
	}
	_, err = s.Put(t.Context(), p, "v", secret.PutOptions{})
	if !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("Put after Close: got %v, want %v", err, secret.ErrUnavailable)
	}
}
