package embedded

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// Put writes value as the next version of p, honouring opts.CAS.
func (s *Store) Put(
	ctx context.Context, p secret.Path, value string, opts secret.PutOptions,
) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if err := s.usable(); err != nil {
		return 0, err
	}
	ns, full := namespace(p), p.String()

	var version int
	var newKey cipher.AEAD // cached only once the transaction commits
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		aead, created, err := s.dataKeyForWrite(ctx, tx, ns)
		if err != nil {
			return err
		}
		if created {
			newKey = aead
		}

		current, err := currentVersion(ctx, tx, full)
		if err != nil {
			return err
		}
		if opts.CAS != nil && *opts.CAS != current {
			return fmt.Errorf("writing secret: %w", secret.ErrCASMismatch)
		}
		version = current + 1

		ciphertext, err := seal(aead, []byte(value), valueAAD(ns, full, version))
		if err != nil {
			return fmt.Errorf("encrypting secret: %w", err)
		}
		now := time.Now().UnixNano()
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO secrets (path, current_version, created_at, updated_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (path) DO UPDATE
			SET current_version = excluded.current_version, updated_at = excluded.updated_at`,
			full, version, now, now); err != nil {
			return dbError("writing secret metadata", err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO secret_versions (path, version, created_at, ciphertext)
			VALUES (?, ?, ?, ?)`,
			full, version, now, ciphertext); err != nil {
			return dbError("writing secret version", err)
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM secret_versions WHERE path = ? AND version <= ?`,
			full, version-MaxVersions); err != nil {
			return dbError("removing old secret versions", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if newKey != nil {
		s.cacheKey(ns, newKey)
		s.logger.Debug("secret store data key created", "namespace", ns)
	}
	return version, nil
}

// Get reads version of p, the current version when version is 0.
func (s *Store) Get(ctx context.Context, p secret.Path, version int) (secret.Secret, error) {
	if err := p.Validate(); err != nil {
		return secret.Secret{}, err
	}
	if err := s.usable(); err != nil {
		return secret.Secret{}, err
	}
	ns, full := namespace(p), p.String()

	var (
		got        secret.Secret
		created    int64
		deleted    sql.NullInt64
		ciphertext []byte
	)
	err := s.reader.QueryRowContext(ctx, `
		SELECT v.version, v.created_at, v.deleted_at, v.ciphertext
		FROM secrets s JOIN secret_versions v ON v.path = s.path
		WHERE s.path = ?
		  AND v.version = CASE WHEN ? = 0 THEN s.current_version ELSE ? END`,
		full, version, version).Scan(&got.Version, &created, &deleted, &ciphertext)
	if errors.Is(err, sql.ErrNoRows) {
		return secret.Secret{}, fmt.Errorf("reading secret: %w", secret.ErrNotFound)
	}
	if err != nil {
		return secret.Secret{}, dbError("reading secret", err)
	}
	if deleted.Valid || ciphertext == nil {
		return secret.Secret{}, fmt.Errorf("reading secret: %w", secret.ErrNotFound)
	}

	aead, found, err := s.loadDataKey(ctx, s.reader, ns)
	if err != nil {
		return secret.Secret{}, err
	}
	if !found {
		return secret.Secret{}, fmt.Errorf("data key missing for a stored secret: %w", ErrIntegrity)
	}
	plain, err := open(aead, ciphertext, valueAAD(ns, full, got.Version))
	if err != nil {
		return secret.Secret{}, fmt.Errorf("decrypting secret: %w", ErrIntegrity)
	}
	got.Value = string(plain)
	got.Created = fromNanos(created)
	return got, nil
}

// Delete soft-deletes the given versions of p, or its current version.
func (s *Store) Delete(ctx context.Context, p secret.Path, versions ...int) error {
	return s.mark(ctx, p, versions, "deleting secret", `
		UPDATE secret_versions SET deleted_at = ?
		WHERE path = ? AND version = ? AND deleted_at IS NULL AND destroyed = 0`, true)
}

// Undelete restores the given soft-deleted versions of p, or its current
// version. Destroyed versions stay destroyed.
func (s *Store) Undelete(ctx context.Context, p secret.Path, versions ...int) error {
	return s.mark(ctx, p, versions, "undeleting secret", `
		UPDATE secret_versions SET deleted_at = NULL
		WHERE path = ? AND version = ? AND destroyed = 0`, false)
}

// Destroy removes the values of the given versions of p, or of its current
// version, for good; their metadata stays, marked destroyed. The freed
// database space is zeroed (secure_delete) and the write-ahead log is
// checkpointed so the ciphertext does not linger there either.
func (s *Store) Destroy(ctx context.Context, p secret.Path, versions ...int) error {
	err := s.mark(ctx, p, versions, "destroying secret", `
		UPDATE secret_versions SET destroyed = 1, ciphertext = NULL
		WHERE path = ? AND version = ?`, false)
	if err != nil {
		return err
	}
	// Best effort: a reader holding an old snapshot can keep the log alive,
	// and the next checkpoint will then do the job.
	if _, err := s.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		s.logger.Debug("secret store checkpoint after destroy failed", "error", err)
	}
	return nil
}

// mark runs stmt for each version of p (the current one when versions is
// empty). stmt's parameters are path and version, preceded by the current
// time when withTime is set.
func (s *Store) mark(
	ctx context.Context, p secret.Path, versions []int, op, stmt string, withTime bool,
) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.usable(); err != nil {
		return err
	}
	full := p.String()
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		current, err := currentVersion(ctx, tx, full)
		if err != nil {
			return err
		}
		if current == 0 {
			return fmt.Errorf("%s: %w", op, secret.ErrNotFound)
		}
		if len(versions) == 0 {
			versions = []int{current}
		}
		now := time.Now().UnixNano()
		for _, v := range versions {
			args := []any{full, v}
			if withTime {
				args = append([]any{now}, args...)
			}
			if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
				return dbError(op, err)
			}
		}
		return nil
	})
}

// Metadata describes every version of p still kept.
func (s *Store) Metadata(ctx context.Context, p secret.Path) (secret.Metadata, error) {
	if err := p.Validate(); err != nil {
		return secret.Metadata{}, err
	}
	if err := s.usable(); err != nil {
		return secret.Metadata{}, err
	}
	full := p.String()

	// One read transaction, so the secret row and its versions come from the
	// same snapshot.
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return secret.Metadata{}, dbError("starting read transaction", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to undo

	md := secret.Metadata{Name: p.Name}
	var created, updated int64
	err = tx.QueryRowContext(ctx,
		`SELECT current_version, created_at, updated_at FROM secrets WHERE path = ?`,
		full).Scan(&md.CurrentVersion, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return secret.Metadata{}, fmt.Errorf("reading secret metadata: %w", secret.ErrNotFound)
	}
	if err != nil {
		return secret.Metadata{}, dbError("reading secret metadata", err)
	}
	md.Created, md.Updated = fromNanos(created), fromNanos(updated)

	rows, err := tx.QueryContext(ctx, `
		SELECT version, created_at, deleted_at, destroyed
		FROM secret_versions WHERE path = ? ORDER BY version`, full)
	if err != nil {
		return secret.Metadata{}, dbError("reading secret versions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v       secret.Version
			vc      int64
			deleted sql.NullInt64
		)
		if err := rows.Scan(&v.Version, &vc, &deleted, &v.Destroyed); err != nil {
			return secret.Metadata{}, dbError("reading secret versions", err)
		}
		v.Created = fromNanos(vc)
		if deleted.Valid {
			t := fromNanos(deleted.Int64)
			v.Deleted = &t
		}
		md.Versions = append(md.Versions, v)
	}
	if err := rows.Err(); err != nil {
		return secret.Metadata{}, dbError("reading secret versions", err)
	}
	if len(md.Versions) > 0 {
		md.OldestVersion = md.Versions[0].Version
	}
	return md, nil
}

// List returns the path relative to dir of every secret stored below dir,
// at any depth, sorted ascending by bytes.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	if err := secret.ValidateDir(dir); err != nil {
		return nil, err
	}
	if err := s.usable(); err != nil {
		return nil, err
	}
	// Every path below dir sorts in [dir+"/", dir+"0"): '0' follows '/' in
	// byte order, and the range keeps the primary key index usable.
	prefix := dir + "/"
	rows, err := s.reader.QueryContext(ctx,
		`SELECT path FROM secrets WHERE path >= ? AND path < ? ORDER BY path`,
		prefix, dir+"0")
	if err != nil {
		return nil, dbError("listing secrets", err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var full string
		if err := rows.Scan(&full); err != nil {
			return nil, dbError("listing secrets", err)
		}
		names = append(names, full[len(prefix):])
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("listing secrets", err)
	}
	return names, nil
}

// currentVersion returns the current version of the secret at full, 0 when
// it was never written.
func currentVersion(ctx context.Context, q querier, full string) (int, error) {
	var current int
	err := q.QueryRowContext(ctx,
		`SELECT current_version FROM secrets WHERE path = ?`, full).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbError("reading current version", err)
	}
	return current, nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
