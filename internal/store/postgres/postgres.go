// Package postgres is the production non-secret store: wallets, entities,
// API-key hashes and DID records in PostgreSQL, shared by every agent
// instance.
//
// Queries that concern one wallet run in a transaction that first names the
// wallet in the setting prism.wallet_id, so that row-level security policies
// on that setting can enforce tenant isolation in the database itself.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/prism-agent/prism-agent/internal/store"
)

// migrationLockID is the advisory lock that serialises migrations of agents
// starting together on one database ("prism" in hex). Advisory locks are
// per database, so other databases of the cluster are not affected.
const migrationLockID = 0x707269736d

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at databaseURL (a postgres:// URL or a
// key=value connection string) and brings its schema up to date. Several
// agents may Open the same database at once: migrations run under an
// advisory lock.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parser's message may quote the connection string, password
		// included.
		return nil, errors.New("parsing database url: malformed connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr("connecting to postgresql", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, mapErr("connecting to postgresql", err)
	}
	if err := migrate(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// migrate applies the embedded migrations that the database lacks, holding
// a session advisory lock so that concurrent agents apply each one once.
func migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (err error) {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("reading postgresql migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID),
		lock.WithLockTimeout(1, 300), // poll every second, give up after 5 minutes
	)
	if err != nil {
		return fmt.Errorf("preparing postgresql migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer func() { err = errors.Join(err, db.Close()) }()
	p, err := goose.NewProvider(goose.DialectPostgres, db, dir,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("preparing postgresql migrations: %w", err)
	}

	results, err := p.Up(ctx)
	if err != nil {
		return mapErr("migrating postgresql schema", err)
	}
	for _, r := range results {
		logger.InfoContext(ctx, "database migration applied", "store", "postgres",
			"version", r.Source.Version, "file", path.Base(r.Source.Path),
			"duration", r.Duration)
	}
	version, err := p.GetDBVersion(ctx)
	if err != nil {
		return mapErr("reading postgresql schema version", err)
	}
	logger.InfoContext(ctx, "database schema ready", "store", "postgres", "version", version)
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return mapErr("pinging postgresql", s.pool.Ping(ctx))
}

// Close closes the pool. It waits for acquired connections to be released
// and may be called more than once.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// inWallet runs fn in a transaction scoped to one wallet: the setting
// prism.wallet_id is set for the transaction only, so a pooled connection
// never carries one wallet's scope into another's query. Every method that
// concerns one wallet goes through here.
func (s *Store) inWallet(ctx context.Context, walletID string, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`SELECT set_config('prism.wallet_id', $1, true)`, walletID); err != nil {
			return fmt.Errorf("scoping transaction to wallet: %w", err)
		}
		return fn(tx)
	})
}

// mapErr turns a database error into the store's domain errors, prefixed
// with what was being done. PostgreSQL's message names the constraint; the
// detail that quotes values is left out.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%s: %w (%s)", op, store.ErrConflict, pgErr.ConstraintName)
		case pgErr.Code == "23503":
			// The row refers to a wallet or entity that does not exist.
			return fmt.Errorf("%s: %w (%s)", op, store.ErrNotFound, pgErr.ConstraintName)
		case serverUnavailable(pgErr.Code):
			return fmt.Errorf("%s: %w: %v", op, store.ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if connectionLost(err) {
		return fmt.Errorf("%s: %w: %v", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// serverUnavailable reports SQLSTATEs of a server that cannot serve now but
// may later: connection exceptions, too many connections, shutdown,
// recovery.
func serverUnavailable(code string) bool {
	switch code {
	case "53300", "57P01", "57P02", "57P03":
		return true
	}
	return strings.HasPrefix(code, "08")
}

// connectionLost reports errors of reaching the server rather than of the
// query: refused or failed connections, broken sockets.
func connectionLost(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed)
}
