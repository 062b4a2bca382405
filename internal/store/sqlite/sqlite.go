// Package sqlite is the embedded non-secret store: wallets, entities, API-key
// hashes and DID records in one SQLite file, for a one-machine agent.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/prism-agent/prism-agent/internal/store"
)

// busyTimeout is how long a statement waits for another connection's write
// lock (another Store on the same file, another process) before failing.
const busyTimeout = 5 * time.Second

// timeLayout stores timestamps as fixed-width UTC text, so that ordering by
// the column is ordering by time.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of store.Store.
//
// It keeps two pools on the file. SQLite allows one writer at a time, so
// every write goes through a single connection: writers of this process
// queue in database/sql instead of spinning on SQLITE_BUSY, and its write
// transactions start with BEGIN IMMEDIATE so that they never fail when
// upgrading a read lock. Reads use a separate read-only pool, which WAL mode
// lets run alongside the writer. Other Stores or processes on the same file
// are serialised by SQLite's file lock and the busy timeout.
type Store struct {
	write     *sql.DB
	read      *sql.DB
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it with mode 0600 if needed) the SQLite database at
// path and brings its schema up to date.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving sqlite path: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}

	write, err := sql.Open("sqlite", dsn(abs, "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("opening sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", dsn(abs, "_query_only=1"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("opening sqlite: %w", err), write.Close())
	}
	read.SetMaxOpenConns(max(4, runtime.NumCPU()))
	s := &Store{write: write, read: read}

	if err := migrate(ctx, write, logger); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if err := s.Ping(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// createFile makes sure the database file exists with mode 0600 before
// SQLite opens it; SQLite gives its -wal and -shm files the same mode.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating sqlite file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating sqlite file: %w", err)
	}
	return nil
}

// dsn builds a URI for path (escaped, so that '?' or '#' in a folder name
// cannot be read as parameters) with the pragmas every connection needs.
func dsn(path string, extra string) string {
	u := url.URL{Scheme: "file", Path: path}
	q := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL&%s",
		busyTimeout.Milliseconds(), extra)
	return u.String() + "?" + q
}

// migrate applies the embedded migrations that the file lacks. Migrations
// are not locked across processes: the embedded store belongs to one agent.
func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("reading sqlite migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, dir,
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("preparing sqlite migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return mapErr("migrating sqlite schema", err)
	}
	for _, r := range results {
		logger.InfoContext(ctx, "database migration applied", "store", "sqlite",
			"version", r.Source.Version, "file", path.Base(r.Source.Path),
			"duration", r.Duration)
	}
	version, err := p.GetDBVersion(ctx)
	if err != nil {
		return mapErr("reading sqlite schema version", err)
	}
	logger.InfoContext(ctx, "database schema ready", "store", "sqlite", "version", version)
	return nil
}

// Ping checks that both pools can reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return mapErr("pinging sqlite", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return mapErr("pinging sqlite", err)
	}
	return nil
}

// Close closes both pools; later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.read.Close(), s.write.Close())
	})
	return s.closeErr
}

// mapErr turns a database error into the store's domain errors, prefixed
// with what was being done. SQLite's messages name constraints and columns,
// never values.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		if errors.Is(err, sql.ErrConnDone) {
			return fmt.Errorf("%s: %w: %v", op, store.ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%s: %w: %v", op, store.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		// The row refers to a wallet or entity that does not exist.
		return fmt.Errorf("%s: %w: %v", op, store.ErrNotFound, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY:
		return fmt.Errorf("%s: %w: %v", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// formatTime and parseTime convert between normalised times and the
// stored text.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing stored time: %w", err)
	}
	return t.UTC(), nil
}
