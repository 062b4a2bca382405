package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prism-agent/prism-agent/internal/store/postgres/schema"
)

// ErrUnsafeDatabase is wrapped by Open's error when the database would not
// enforce wallet isolation for the agent's role: the agent refuses to start
// rather than rely on its queries alone.
var ErrUnsafeDatabase = errors.New("database does not enforce wallet isolation")

// insufficientPrivilege is the SQLSTATE of a statement the role may not run.
const insufficientPrivilege = "42501"

// grantAgent gives role the agent's privileges over the owner's connection.
func grantAgent(ctx context.Context, owner *pgxpool.Pool, role string, logger *slog.Logger) error {
	err := pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
		return schema.Grant(ctx, tx, role)
	})
	if err != nil {
		return mapErr(fmt.Sprintf("granting privileges to database role %q", role), err)
	}
	logger.InfoContext(ctx, "database privileges granted", "store", "postgres", "role", role)
	return nil
}

// checkIsolation returns an error wrapping ErrUnsafeDatabase unless the
// row-level security policies bind the role of pool on every wallet table.
func checkIsolation(ctx context.Context, pool *pgxpool.Pool) error {
	if err := checkRole(ctx, pool); err != nil {
		return err
	}
	return checkTables(ctx, pool)
}

// checkRole refuses a role that skips row-level security: a superuser or a
// BYPASSRLS role, or a member of one, which could SET ROLE to it.
func checkRole(ctx context.Context, pool *pgxpool.Pool) error {
	var (
		role              string
		super, bypass     bool
		escalate          string
		escalateIsSuper   bool
		escalateHasBypass bool
	)
	err := pool.QueryRow(ctx, `
		SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`,
	).Scan(&role, &super, &bypass)
	if err != nil {
		return mapErr("checking the agent's database role", err)
	}
	const fix = "connect the agent (DATABASE_URL) as a role that is neither SUPERUSER nor " +
		"BYPASSRLS and does not own the tables, and give the owner's connection in " +
		"DATABASE_MIGRATION_URL"
	switch {
	case super:
		return fmt.Errorf("%w: the database role %q is a superuser, to which row-level "+
			"security does not apply; %s", ErrUnsafeDatabase, role, fix)
	case bypass:
		return fmt.Errorf("%w: the database role %q has BYPASSRLS, so row-level security "+
			"does not apply to it; run ALTER ROLE %s NOBYPASSRLS, or %s",
			ErrUnsafeDatabase, role, pgx.Identifier{role}.Sanitize(), fix)
	}

	err = pool.QueryRow(ctx, `
		SELECT rolname, rolsuper, rolbypassrls FROM pg_roles
		WHERE (rolsuper OR rolbypassrls) AND rolname <> current_user
		  AND pg_has_role(current_user, oid, 'MEMBER')
		ORDER BY rolname LIMIT 1`,
	).Scan(&escalate, &escalateIsSuper, &escalateHasBypass)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return mapErr("checking the agent's database role", err)
	}
	what := "BYPASSRLS"
	if escalateIsSuper {
		what = "a superuser"
	}
	return fmt.Errorf("%w: the database role %q is a member of %q, which is %s, and could "+
		"SET ROLE to it to skip row-level security; run REVOKE %s FROM %s",
		ErrUnsafeDatabase, role, escalate, what,
		pgx.Identifier{escalate}.Sanitize(), pgx.Identifier{role}.Sanitize())
}

// checkTables refuses a wallet table that the role owns (or whose owner it
// is a member of), since an owner can turn row-level security off, and one
// on which row-level security is not both enabled and forced.
func checkTables(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `
		SELECT t.name, c.oid IS NOT NULL,
		       coalesce(c.relrowsecurity, false), coalesce(c.relforcerowsecurity, false),
		       coalesce(pg_get_userbyid(c.relowner), ''),
		       coalesce(pg_has_role(current_user, c.relowner, 'MEMBER'), false), current_user
		FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n)
		LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
		ORDER BY t.n`, schema.WalletTables)
	if err != nil {
		return mapErr("checking row-level security", err)
	}
	type table struct {
		name, owner, role        string
		exists, rls, forced, own bool
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		err := r.Scan(&t.name, &t.exists, &t.rls, &t.forced, &t.owner, &t.own, &t.role)
		return t, err
	})
	if err != nil {
		return mapErr("checking row-level security", err)
	}

	for _, t := range tables {
		switch {
		case !t.exists:
			return fmt.Errorf("%w: table %s does not exist; the schema is not migrated",
				ErrUnsafeDatabase, t.name)
		case t.own && t.owner == t.role:
			return fmt.Errorf("%w: the database role %q owns table %s and could turn "+
				"row-level security off; give this role's connection as DATABASE_MIGRATION_URL "+
				"only, and connect the agent (DATABASE_URL) as a role that owns nothing (the "+
				"agent grants it what it needs)", ErrUnsafeDatabase, t.role, t.name)
		case t.own:
			return fmt.Errorf("%w: the database role %q is a member of %q, the owner of "+
				"table %s, and could turn row-level security off; run REVOKE %s FROM %s",
				ErrUnsafeDatabase, t.role, t.owner, t.name,
				pgx.Identifier{t.owner}.Sanitize(), pgx.Identifier{t.role}.Sanitize())
		case !t.rls || !t.forced:
			return fmt.Errorf("%w: row-level security is not enabled and forced on table %s; "+
				"as its owner, run ALTER TABLE %s ENABLE ROW LEVEL SECURITY and "+
				"ALTER TABLE %s FORCE ROW LEVEL SECURITY", ErrUnsafeDatabase, t.name,
				t.name, t.name)
		}
	}
	return nil
}
