package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/prism-agent/prism-agent/internal/store/postgres/schema"
)

// DefaultPostgresURL is the server the tests use when PRISM_TEST_DATABASE_URL
// is unset: the local cluster with trust authentication.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// pgStartHint tells how to start the local cluster of the development
// machine.
const pgStartHint = "start it with `pg_ctlcluster --skip-systemctl-redirect " +
	"$(ls /etc/postgresql) main start`, or point PRISM_TEST_DATABASE_URL at a server " +
	"where the user may create databases"

// pgTimeout bounds each administrative step, so that a hung server fails the
// test instead of stalling it.
const pgTimeout = 30 * time.Second

// PostgresDatabase is a throwaway database with the two roles of a
// production deployment: OwnerRole owns the database (and so the schema
// the agent's migrations create), AgentRole owns nothing. Neither is superuser nor
// BYPASSRLS; both log in with a random password, so the URLs work with
// trust and password authentication alike.
type PostgresDatabase struct {
	Name      string
	OwnerRole string
	AgentRole string
	// OwnerURL is for DATABASE_MIGRATION_URL, AgentURL for DATABASE_URL.
	OwnerURL string
	AgentURL string
	// AdminURL is the database with the administrative role of
	// PRISM_TEST_DATABASE_URL (a superuser on the default server): for
	// tests of connections the agent must refuse, and for setup that needs
	// more than the owner.
	AdminURL string
}

// PostgresDB creates, on the server at PRISM_TEST_DATABASE_URL (default
// DefaultPostgresURL), the roles prism_test_owner_<hex> and
// prism_test_agent_<hex> and a database prism_test_<hex> owned by the
// first. It runs nothing else: no schema, no grants. When the test ends it
// drops the database (WITH (FORCE), closing leftover connections) and then
// both roles. An unreachable server fails the test with a hint on how to
// start it.
func PostgresDB(t testing.TB) PostgresDatabase {
	t.Helper()
	u, err := url.Parse(PostgresAdminURL())
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("testenv: PRISM_TEST_DATABASE_URL must be a postgres:// URL")
	}

	suffix := pgRandomHex(t)
	db := PostgresDatabase{
		Name:      "prism_test_" + suffix,
		OwnerRole: "prism_test_owner_" + suffix,
		AgentRole: "prism_test_agent_" + suffix,
	}
	ownerPassword, agentPassword := pgRandomHex(t), pgRandomHex(t)
	// Registered first, so that the roles are dropped after the database
	// that holds their objects and grants.
	t.Cleanup(func() {
		pgAdminExec(t, u, "DROP ROLE IF EXISTS "+pgx.Identifier{db.OwnerRole}.Sanitize()+", "+
			pgx.Identifier{db.AgentRole}.Sanitize())
	})
	for role, password := range map[string]string{
		db.OwnerRole: ownerPassword, db.AgentRole: agentPassword,
	} {
		// The password is hex, so it needs no quoting in the literal; the
		// statement is not echoed on failure, so that it stays out of logs.
		pgAdminRun(t, u, "CREATE ROLE "+role, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+
			" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '"+password+"'")
	}
	pgAdminExec(t, u, "CREATE DATABASE "+pgx.Identifier{db.Name}.Sanitize()+
		" OWNER "+pgx.Identifier{db.OwnerRole}.Sanitize())
	t.Cleanup(func() {
		pgAdminExec(t, u, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.Name}.Sanitize()+
			" WITH (FORCE)")
	})

	db.OwnerURL = pgURL(u, db.Name, db.OwnerRole, ownerPassword)
	db.AgentURL = pgURL(u, db.Name, db.AgentRole, agentPassword)
	admin := *u
	admin.Path = "/" + db.Name
	admin.RawPath = ""
	db.AdminURL = admin.String()
	return db
}

// PostgresURLs is PostgresDB's two URLs: pass agentURL as DATABASE_URL and
// migrationURL as DATABASE_MIGRATION_URL.
func PostgresURLs(t testing.TB) (agentURL, migrationURL string) {
	t.Helper()
	db := PostgresDB(t)
	return db.AgentURL, db.OwnerURL
}

// PostgresURL is the agent's URL (DATABASE_URL) of a PostgresDB whose owner
// has already applied the record store's migrations and granted the agent
// its privileges, as a deployment that migrates from one place has it: the
// agent starts with this URL alone. Tests of the migration at start use
// PostgresURLs instead.
func PostgresURL(t testing.TB) string {
	t.Helper()
	db := PostgresDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, db.OwnerURL)
	if err != nil {
		t.Fatalf("testenv: connecting as the database owner: %v", err)
	}
	defer pool.Close()
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer func() { _ = sqlDB.Close() }()
	p, err := schema.NewProvider(sqlDB)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("testenv: migrating %s: %v", db.Name, err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return schema.Grant(ctx, tx, db.AgentRole)
	})
	if err != nil {
		t.Fatalf("testenv: granting the agent's privileges on %s: %v", db.Name, err)
	}
	return db.AgentURL
}

// pgURL is u on database name, as role with password.
func pgURL(u *url.URL, name, role, password string) string {
	db := *u
	db.Path = "/" + name
	db.RawPath = ""
	db.User = url.UserPassword(role, password)
	return db.String()
}

// PostgresAdminURL is the server's administrative URL:
// PRISM_TEST_DATABASE_URL, or DefaultPostgresURL when it is unset. Tests use
// it for cluster-wide objects, such as roles, that outlive one database.
func PostgresAdminURL() string {
	if u := os.Getenv("PRISM_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// pgAdminExec runs one statement on the administrative database of u.
func pgAdminExec(t testing.TB, u *url.URL, sql string) {
	t.Helper()
	pgAdminRun(t, u, sql, sql)
}

// pgAdminRun runs one statement on the administrative database of u,
// naming it what in a failure.
func pgAdminRun(t testing.TB, u *url.URL, what, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s is unreachable: %v; %s", u.Redacted(), err, pgStartHint)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: %s on %s: %v", what, u.Redacted(), err)
	}
}

// pgRandomHex is 16 random hex digits, for names and passwords.
func pgRandomHex(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random name: %v", err)
	}
	return hex.EncodeToString(b)
}
