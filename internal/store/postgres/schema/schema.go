// Package schema is the PostgreSQL record store's schema: its migrations,
// the tables under row-level security and the privileges granted to the
// agent's role. It is shared by the store, which applies it at start, and by
// the test harness, which prepares databases the way a deployment has them.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// LockID is the advisory lock that serialises migrations and grants of
// agents starting together on one database ("prism" in hex). Advisory
// locks are per database, so other databases of the cluster are not
// affected.
const LockID = 0x707269736d

//go:embed migrations/*.sql
var migrations embed.FS

// WalletTables are the tables holding wallet data, on which migration 00002
// enables and forces row-level security. A migration adding such a table
// adds it here and to grants.
var WalletTables = []string{"wallets", "entities", "api_keys", "dids"}

// grants are the privileges the agent's queries need, and no more: wallets
// are never deleted, API keys never changed. goose_db_version is readable
// so that an agent started without the owner's connection can check that
// the schema is up to date.
var grants = []string{
	`GRANT SELECT ON goose_db_version TO %s`,
	`GRANT SELECT, INSERT, UPDATE ON wallets TO %s`,
	`GRANT SELECT, INSERT, UPDATE, DELETE ON entities TO %s`,
	`GRANT SELECT, INSERT, DELETE ON api_keys TO %s`,
	`GRANT SELECT, INSERT, UPDATE ON dids TO %s`,
}

// NewProvider returns the goose provider of the migrations on db. Up holds
// a session advisory lock on LockID, so that concurrent agents apply each
// migration once.
func NewProvider(db *sql.DB) (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading postgresql migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(LockID),
		lock.WithLockTimeout(1, 300), // poll every second, give up after 5 minutes
	)
	if err != nil {
		return nil, fmt.Errorf("preparing postgresql migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, dir,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("preparing postgresql migrations: %w", err)
	}
	return p, nil
}

// Grant gives role the agent's privileges in tx, a transaction of the
// tables' owner. GRANT is idempotent, so this may run at every start; it
// takes LockID for the transaction because concurrent GRANTs on one table
// can fail with "tuple concurrently updated".
func Grant(ctx context.Context, tx pgx.Tx, role string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(LockID)); err != nil {
		return err
	}
	for _, g := range grants {
		if _, err := tx.Exec(ctx, fmt.Sprintf(g, pgx.Identifier{role}.Sanitize())); err != nil {
			return err
		}
	}
	return nil
}
