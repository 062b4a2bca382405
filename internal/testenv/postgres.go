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

// PostgresURL creates a throwaway database prism_test_<random hex> on the
// server at PRISM_TEST_DATABASE_URL (default DefaultPostgresURL), drops it
// (WITH (FORCE), closing leftover connections) when the test ends, and
// returns its URL. An unreachable server fails the test with a hint on how
// to start it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(PostgresAdminURL())
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("testenv: PRISM_TEST_DATABASE_URL must be a postgres:// URL")
	}

	name := pgDatabaseName(t)
	pgAdminExec(t, u, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		pgAdminExec(t, u, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+
			" WITH (FORCE)")
	})

	db := *u
	db.Path = "/" + name
	db.RawPath = ""
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
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s is unreachable: %v; %s", u.Redacted(), err, pgStartHint)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: %s on %s: %v", sql, u.Redacted(), err)
	}
}

func pgDatabaseName(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random database name: %v", err)
	}
	return "prism_test_" + hex.EncodeToString(b)
}
