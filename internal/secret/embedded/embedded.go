// Package embedded is the secret store of a one-machine setup: secrets live
// in their own SQLite file with the semantics of Vault's KV version 2 engine,
// and nothing secret ever reaches the disk in plaintext.
//
// Every value is encrypted with AES-256-GCM under the data key of its
// namespace, the first segment of its Path.Dir (a wallet id in the agent's
// layout), so each wallet has its own key. Data keys are random and stored
// wrapped by the master key, which lives outside the database (see
// LoadOrCreateMasterKey). The associated data of a value names its
// namespace, full path and version: a ciphertext copied to another row fails
// to decrypt instead of yielding another secret's value.
package embedded

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// MaxVersions is how many versions of a secret are kept, Vault's default:
// writing version N removes version N-MaxVersions for good.
const MaxVersions = 10

// Failures particular to the embedded store, checked with errors.Is.
var (
	// ErrWrongMasterKey: the master key given to Open is not the one the
	// store was created with.
	ErrWrongMasterKey = errors.New("master key does not match the secret store")
	// ErrIntegrity: stored data failed authentication; the database file
	// was altered or damaged outside this package.
	ErrIntegrity = errors.New("secret store integrity check failed")
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a secret.Store backed by an encrypted SQLite file. It is safe for
// concurrent use; writes are serialized by SQLite's write lock, which also
// holds across processes sharing the file.
type Store struct {
	// writer has a single connection whose transactions start with BEGIN
	// IMMEDIATE, so every read-modify-write (CAS, versioning, data key
	// creation) runs under the write lock from its first statement.
	writer *sql.DB
	// reader serves Get, Metadata and List from WAL snapshots without
	// waiting for writers.
	reader *sql.DB
	master cipher.AEAD
	logger *slog.Logger
	closed atomic.Bool

	mu       sync.Mutex
	dataKeys map[string]cipher.AEAD // unwrapped data keys by namespace
}

var _ secret.Store = (*Store)(nil)

// Open opens the store in the SQLite file at path, creating the file (mode
// 0600, parent directory 0700) and migrating its schema as needed. The first
// Open of a new file records a key check value for masterKey (32 bytes);
// later Opens with a different key fail with ErrWrongMasterKey. Open keeps
// no reference to masterKey, so the caller may clear it afterwards.
func Open(ctx context.Context, path string, masterKey []byte, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	master, err := newAEAD(masterKey)
	if err != nil {
		return nil, fmt.Errorf("using master key: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving secret store path: %w", err)
	}
	if err := prepareFile(abs, logger); err != nil {
		return nil, err
	}

	s := &Store{master: master, logger: logger, dataKeys: make(map[string]cipher.AEAD)}
	if s.writer, err = openDB(abs, true); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.writer.Close()
		return nil, err
	}
	if s.reader, err = openDB(abs, false); err != nil {
		s.writer.Close()
		return nil, err
	}
	if err := s.checkMasterKey(ctx); err != nil {
		s.Close()
		return nil, err
	}
	logger.Info("secret store opened", "backend", "embedded", "path", abs)
	return s, nil
}

// prepareFile creates the database file with owner-only permissions before
// SQLite sees it; SQLite gives its -wal and -shm files the same mode.
func prepareFile(path string, logger *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating secret store directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating secret store file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checking secret store file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("restricting secret store file permissions: %w", err)
		}
		logger.Warn("secret store file permissions restricted",
			"path", path, "old_mode", fmt.Sprintf("%#o", perm), "new_mode", "0600")
	}
	return nil
}

func openDB(path string, writer bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		// FULL sync: a seed acknowledged as written must survive a crash.
		// secure_delete zeroes the space freed by destroyed values.
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "secure_delete(1)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening secret store database: %w", err)
	}
	if writer {
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(4)
	}
	return db, nil
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("reading secret store migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.writer, fsys,
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("preparing secret store migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrating secret store: %w", err)
	}
	for _, r := range results {
		s.logger.Info("secret store migrated", "version", r.Source.Version)
	}
	return nil
}

// checkMasterKey verifies masterKey against the stored key check value, or
// records one for a new store.
func (s *Store) checkMasterKey(ctx context.Context) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		var check []byte
		err := tx.QueryRowContext(ctx, `SELECT key_check FROM store_meta WHERE id = 1`).Scan(&check)
		if err == nil {
			plain, err := open(s.master, check, keyCheckAAD())
			if err != nil || string(plain) != keyCheckPlaintext {
				return ErrWrongMasterKey
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading key check value: %w", err)
		}

		// A store that already holds data keys but no check value was
		// tampered with; recording a check for whatever key we were given
		// would hide that.
		var keys int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM data_keys`).Scan(&keys); err != nil {
			return fmt.Errorf("counting data keys: %w", err)
		}
		if keys > 0 {
			return fmt.Errorf("key check value missing from a store with data keys: %w", ErrIntegrity)
		}
		check, err = seal(s.master, []byte(keyCheckPlaintext), keyCheckAAD())
		if err != nil {
			return fmt.Errorf("creating key check value: %w", err)
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO store_meta (id, key_check, created_at) VALUES (1, ?, ?)`,
			check, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("storing key check value: %w", err)
		}
		s.logger.Info("secret store initialized", "backend", "embedded")
		return nil
	})
}

// Close closes the database. The store is unusable afterwards.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	s.mu.Lock()
	clear(s.dataKeys)
	s.mu.Unlock()
	return errors.Join(errs...)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.usable(); err != nil {
		return err
	}
	var one int
	err := s.reader.QueryRowContext(ctx, `SELECT 1 FROM store_meta WHERE id = 1`).Scan(&one)
	if err != nil {
		return fmt.Errorf("pinging secret store: %w: %w", secret.ErrUnavailable, err)
	}
	return nil
}

func (s *Store) usable() error {
	if s.closed.Load() {
		return fmt.Errorf("secret store is closed: %w", secret.ErrUnavailable)
	}
	return nil
}

// writeTx runs fn in an immediate transaction on the writer connection and
// commits when fn returns nil.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return dbError("starting write transaction", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return dbError("committing write transaction", err)
	}
	return nil
}

// dbError wraps a database failure, marking lock timeouts as
// secret.ErrUnavailable: another process holding the write lock is a
// condition that passes, not a bug.
func dbError(op string, err error) error {
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%s: %w: %w", op, secret.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// namespace is the first segment of a path's directory: the unit that owns a
// data key.
func namespace(p secret.Path) string {
	ns, _, _ := strings.Cut(p.Dir, "/")
	return ns
}

// cachedKey returns the unwrapped data key of ns if this Store has seen it.
func (s *Store) cachedKey(ns string) (cipher.AEAD, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	aead, ok := s.dataKeys[ns]
	return aead, ok
}

func (s *Store) cacheKey(ns string, aead cipher.AEAD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataKeys[ns] = aead
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// loadDataKey reads and unwraps the data key of ns; found is false when the
// namespace has none yet.
func (s *Store) loadDataKey(
	ctx context.Context, q querier, ns string,
) (_ cipher.AEAD, found bool, _ error) {
	if aead, ok := s.cachedKey(ns); ok {
		return aead, true, nil
	}
	var wrapped []byte
	err := q.QueryRowContext(ctx,
		`SELECT wrapped FROM data_keys WHERE namespace = ?`, ns).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, dbError("reading data key", err)
	}
	key, err := open(s.master, wrapped, dataKeyAAD(ns))
	if err != nil {
		return nil, false, fmt.Errorf("unwrapping data key: %w", ErrIntegrity)
	}
	aead, err := newAEAD(key)
	clear(key)
	if err != nil {
		return nil, false, fmt.Errorf("unwrapping data key: %w", ErrIntegrity)
	}
	s.cacheKey(ns, aead)
	return aead, true, nil
}

// dataKeyForWrite returns the data key of ns, creating it inside tx when the
// namespace has none. Because tx holds the write lock, two first writes in a
// namespace cannot both create a key. A created key is cached only by the
// caller, after tx commits.
func (s *Store) dataKeyForWrite(
	ctx context.Context, tx *sql.Tx, ns string,
) (_ cipher.AEAD, created bool, _ error) {
	aead, found, err := s.loadDataKey(ctx, tx, ns)
	if err != nil || found {
		return aead, false, err
	}
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generating data key: %w", err)
	}
	wrapped, err := seal(s.master, key, dataKeyAAD(ns))
	if err != nil {
		return nil, false, fmt.Errorf("wrapping data key: %w", err)
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO data_keys (namespace, wrapped, created_at) VALUES (?, ?, ?)`,
		ns, wrapped, time.Now().UnixNano())
	if err != nil {
		return nil, false, dbError("storing data key", err)
	}
	if aead, err = newAEAD(key); err != nil {
		return nil, false, err
	}
	return aead, true, nil
}
