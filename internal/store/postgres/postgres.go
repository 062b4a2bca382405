// Package postgres is the production non-secret store: wallets, entities,
// API-key hashes and DID records in PostgreSQL, shared by every agent
// instance.
//
// Tenant isolation is enforced twice: by the queries, and by row-level
// security policies in the database itself (migration 00002). Every query
// runs in a transaction that names its scope first: prism.wallet_id for an
// operation of one wallet, or prism.scope = 'operator' for one that is
// cross-wallet by nature. A query that names neither sees no row.
//
// The policies bind only a role that is neither superuser nor BYPASSRLS and
// does not own the tables, so the agent connects as such a role, migrations
// run over a separate owner's connection, and Open refuses a database or a
// role that would not enforce isolation.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/store/postgres/schema"
)

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	migrationURL string
	appRole      string
}

// WithMigrationURL makes Open apply migrations over a second connection,
// that of the tables' owner, and then grant the agent's role the privileges
// its queries need. The connection is closed before Open returns. Without
// it, migrations run over databaseURL, which then works only on a schema
// that is already up to date (the agent's role may not change it).
func WithMigrationURL(migrationURL string) Option {
	return func(o *options) { o.migrationURL = migrationURL }
}

// WithAppRole names the role that is granted the agent's privileges after
// migrations, when it is not the role of databaseURL itself: for instance a
// group role whose members are the agent's short-lived login roles. It
// needs WithMigrationURL.
func WithAppRole(role string) Option {
	return func(o *options) { o.appRole = role }
}

// Open connects to the database at databaseURL (a postgres:// URL or a
// key=value connection string), brings its schema up to date and checks
// that the database enforces wallet isolation for the connected role. It
// returns an error wrapping ErrUnsafeDatabase, naming the problem and the
// fix, when the role is a superuser or has BYPASSRLS, owns the tables, or
// row-level security is not enabled and forced on each of them. Several
// agents may Open the same database at once: migrations and grants run
// under an advisory lock.
func Open(
	ctx context.Context, databaseURL string, logger *slog.Logger, opts ...Option,
) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.appRole != "" && o.migrationURL == "" {
		return nil, errors.New("an app role to grant privileges to needs a migration url")
	}

	pool, err := connect(ctx, "database url", databaseURL)
	if err != nil {
		return nil, err
	}
	if err := prepare(ctx, pool, o, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// connect opens a pool on url and checks that the server answers. what
// names the url in errors.
func connect(ctx context.Context, what, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parser's message may quote the connection string, password
		// included.
		return nil, fmt.Errorf("parsing %s: malformed connection string", what)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr("connecting to postgresql", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, mapErr("connecting to postgresql", err)
	}
	return pool, nil
}

// prepare migrates the schema, over the owner's connection when there is
// one, grants the agent's role its privileges, and checks isolation on the
// agent's own connection.
func prepare(ctx context.Context, pool *pgxpool.Pool, o options, logger *slog.Logger) error {
	if o.migrationURL == "" {
		if err := migrate(ctx, pool, "DATABASE_URL", logger); err != nil {
			return err
		}
		return checkIsolation(ctx, pool)
	}

	owner, err := connect(ctx, "migration database url", o.migrationURL)
	if err != nil {
		return err
	}
	defer owner.Close()
	if err := migrate(ctx, owner, "DATABASE_MIGRATION_URL", logger); err != nil {
		return err
	}
	role := o.appRole
	if role == "" {
		if err := pool.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil {
			return mapErr("reading the agent's database role", err)
		}
	}
	if err := grantAgent(ctx, owner, role, logger); err != nil {
		return err
	}
	return checkIsolation(ctx, pool)
}

// migrate applies the migrations that the database lacks, holding a
// session advisory lock so that concurrent agents apply each one once.
// source names the connection's variable in the hint given when its role
// may not change the schema.
func migrate(
	ctx context.Context, pool *pgxpool.Pool, source string, logger *slog.Logger,
) (err error) {
	db := stdlib.OpenDBFromPool(pool)
	defer func() { err = errors.Join(err, db.Close()) }()
	p, err := schema.NewProvider(db)
	if err != nil {
		return err
	}

	results, err := p.Up(ctx)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == insufficientPrivilege {
			return fmt.Errorf("migrating postgresql schema: the role of %s may not change "+
				"the schema (%s); set DATABASE_MIGRATION_URL to a connection of the role that "+
				"owns the database and its tables", source, pgErr.Message)
		}
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

// Settings that scope a transaction; the row-level security policies of
// migration 00002 read them.
const (
	walletSetting = "prism.wallet_id"
	scopeSetting  = "prism.scope"
	operatorScope = "operator"
)

// inWallet runs fn in a transaction scoped to one wallet: only that
// wallet's rows are visible. Every method that concerns one wallet goes
// through here.
func (s *Store) inWallet(ctx context.Context, walletID string, fn func(pgx.Tx) error) error {
	return s.inScope(ctx, walletSetting, walletID, fn)
}

// asOperator runs fn in a transaction that sees every wallet's rows. Only
// methods that are cross-wallet by nature go through here: listing wallets
// and entities, creating a wallet, resolving an API key before its wallet
// is known.
func (s *Store) asOperator(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.inScope(ctx, scopeSetting, operatorScope, fn)
}

// inScope runs fn in a transaction where setting has value. The setting is
// local to the transaction, so a pooled connection never carries one
// scope into another query.
func (s *Store) inScope(
	ctx context.Context, setting, value string, fn func(pgx.Tx) error,
) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, setting, value); err != nil {
			return fmt.Errorf("scoping transaction: %w", err)
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
