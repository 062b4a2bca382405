package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/store/internal/norm"
)

const walletColumns = "id, name, state, seed_digest, created_at, updated_at"

// CreateWallet inserts a wallet; ErrConflict if the id or seed digest is
// taken.
func (s *Store) CreateWallet(ctx context.Context, w store.Wallet) error {
	w, err := norm.Wallet(w)
	if err != nil {
		return fmt.Errorf("creating wallet: %w", err)
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO wallets (`+walletColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		w.ID, w.Name, string(w.State), w.SeedDigest,
		formatTime(w.CreatedAt), formatTime(w.UpdatedAt))
	return mapErr("creating wallet", err)
}

// GetWallet returns the wallet with the id.
func (s *Store) GetWallet(ctx context.Context, id string) (store.Wallet, error) {
	row := s.read.QueryRowContext(ctx,
		`SELECT `+walletColumns+` FROM wallets WHERE id = ?`, id)
	w, err := scanWallet(row)
	return w, mapErr("getting wallet", err)
}

// SeedDigestInUse reports whether a wallet has this seed digest.
func (s *Store) SeedDigestInUse(ctx context.Context, digest []byte) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM wallets WHERE seed_digest = ?`, digest).Scan(&n)
	return n > 0, mapErr("checking seed digest", err)
}

// ListWallets returns a page of wallets and the number of wallets.
func (s *Store) ListWallets(ctx context.Context, p store.Page) ([]store.Wallet, int, error) {
	ws, total, err := list(ctx, s.read, p, scanWallet,
		`SELECT count(*) FROM wallets`,
		`SELECT `+walletColumns+` FROM wallets ORDER BY created_at, id LIMIT ? OFFSET ?`)
	return ws, total, mapErr("listing wallets", err)
}

// SetWalletState changes a wallet's state.
func (s *Store) SetWalletState(ctx context.Context, id string, st store.WalletState) error {
	if err := norm.WalletState(st); err != nil {
		return fmt.Errorf("setting wallet state: %w", err)
	}
	res, err := s.write.ExecContext(ctx,
		`UPDATE wallets SET state = ?, updated_at = ? WHERE id = ?`,
		string(st), formatTime(norm.Time(time.Time{})), id)
	return mapErr("setting wallet state", oneRow(res, err))
}

const entityColumns = "id, name, wallet_id, created_at, updated_at"

// CreateEntity inserts an entity; ErrNotFound if its wallet does not exist.
func (s *Store) CreateEntity(ctx context.Context, e store.Entity) error {
	e, err := norm.Entity(e)
	if err != nil {
		return fmt.Errorf("creating entity: %w", err)
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO entities (`+entityColumns+`) VALUES (?, ?, ?, ?, ?)`,
		e.ID, e.Name, e.WalletID, formatTime(e.CreatedAt), formatTime(e.UpdatedAt))
	return mapErr("creating entity", err)
}

// GetEntity returns the entity with the id.
func (s *Store) GetEntity(ctx context.Context, id string) (store.Entity, error) {
	row := s.read.QueryRowContext(ctx,
		`SELECT `+entityColumns+` FROM entities WHERE id = ?`, id)
	e, err := scanEntity(row)
	return e, mapErr("getting entity", err)
}

// ListEntities returns a page of entities and the number of entities.
func (s *Store) ListEntities(ctx context.Context, p store.Page) ([]store.Entity, int, error) {
	es, total, err := list(ctx, s.read, p, scanEntity,
		`SELECT count(*) FROM entities`,
		`SELECT `+entityColumns+` FROM entities ORDER BY created_at, id LIMIT ? OFFSET ?`)
	return es, total, mapErr("listing entities", err)
}

// UpdateEntity sets an entity's name, wallet and update time; its creation
// time is kept.
func (s *Store) UpdateEntity(ctx context.Context, e store.Entity) error {
	e, err := norm.Entity(e)
	if err != nil {
		return fmt.Errorf("updating entity: %w", err)
	}
	res, err := s.write.ExecContext(ctx,
		`UPDATE entities SET name = ?, wallet_id = ?, updated_at = ? WHERE id = ?`,
		e.Name, e.WalletID, formatTime(e.UpdatedAt), e.ID)
	return mapErr("updating entity", oneRow(res, err))
}

// DeleteEntity removes the entity; its API keys go with it (ON DELETE
// CASCADE).
func (s *Store) DeleteEntity(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM entities WHERE id = ?`, id)
	return mapErr("deleting entity", oneRow(res, err))
}

// AddAPIKey stores a key hash; ErrConflict if the hash is registered,
// ErrNotFound if the entity does not exist.
func (s *Store) AddAPIKey(ctx context.Context, k store.APIKey) error {
	k, err := norm.APIKey(k)
	if err != nil {
		return fmt.Errorf("adding api key: %w", err)
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO api_keys (hash, entity_id, created_at) VALUES (?, ?, ?)`,
		k.Hash, k.EntityID, formatTime(k.CreatedAt))
	return mapErr("adding api key", err)
}

// DeleteAPIKey removes the hash if it belongs to the entity, else
// ErrNotFound.
func (s *Store) DeleteAPIKey(ctx context.Context, entityID string, hash []byte) error {
	res, err := s.write.ExecContext(ctx,
		`DELETE FROM api_keys WHERE hash = ? AND entity_id = ?`, hash, entityID)
	return mapErr("deleting api key", oneRow(res, err))
}

// LookupAPIKey resolves a key hash to its entity and wallet in one query.
func (s *Store) LookupAPIKey(ctx context.Context, hash []byte) (store.Principal, error) {
	row := s.read.QueryRowContext(ctx, `
		SELECT e.id, e.name, e.wallet_id, e.created_at, e.updated_at,
		       w.id, w.name, w.state, w.seed_digest, w.created_at, w.updated_at
		FROM api_keys k
		JOIN entities e ON e.id = k.entity_id
		JOIN wallets w ON w.id = e.wallet_id
		WHERE k.hash = ?`, hash)
	var (
		p     store.Principal
		state string
	)
	err := row.Scan(&p.Entity.ID, &p.Entity.Name, &p.Entity.WalletID,
		timeColumn{&p.Entity.CreatedAt}, timeColumn{&p.Entity.UpdatedAt},
		&p.Wallet.ID, &p.Wallet.Name, &state, &p.Wallet.SeedDigest,
		timeColumn{&p.Wallet.CreatedAt}, timeColumn{&p.Wallet.UpdatedAt})
	if err != nil {
		return store.Principal{}, mapErr("looking up api key", err)
	}
	p.Wallet.State = store.WalletState(state)
	return p, nil
}

// NextDIDIndex allocates the wallet's next did-index. The increment is one
// statement, so SQLite's write lock makes it atomic across connections and
// processes.
func (s *Store) NextDIDIndex(ctx context.Context, walletID string) (int, error) {
	var idx int
	err := s.write.QueryRowContext(ctx, `
		UPDATE wallets SET next_did_index = next_did_index + 1
		WHERE id = ? RETURNING next_did_index - 1`, walletID).Scan(&idx)
	if err != nil {
		return 0, mapErr("allocating did index", err)
	}
	return idx, nil
}

const didColumns = "wallet_id, did_index, short_form, long_form, status, keys, created_at"

// CreateDID inserts a DID record; ErrConflict if the wallet already has the
// short form or the did-index, ErrNotFound if the wallet does not exist.
func (s *Store) CreateDID(ctx context.Context, d store.DID) error {
	d, err := norm.DID(d)
	if err != nil {
		return fmt.Errorf("creating did: %w", err)
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO dids (`+didColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.WalletID, d.DIDIndex, d.ShortForm, d.LongForm, d.Status, d.Keys,
		formatTime(d.CreatedAt))
	return mapErr("creating did", err)
}

// GetDID finds a DID of the wallet by short form.
func (s *Store) GetDID(ctx context.Context, walletID, shortForm string) (store.DID, error) {
	row := s.read.QueryRowContext(ctx,
		`SELECT `+didColumns+` FROM dids WHERE wallet_id = ? AND short_form = ?`,
		walletID, shortForm)
	d, err := scanDID(row)
	return d, mapErr("getting did", err)
}

// ListDIDs returns a page of the wallet's DIDs and how many it has.
func (s *Store) ListDIDs(
	ctx context.Context, walletID string, p store.Page,
) ([]store.DID, int, error) {
	ds, total, err := list(ctx, s.read, p, scanDID,
		`SELECT count(*) FROM dids WHERE wallet_id = ?`,
		`SELECT `+didColumns+` FROM dids WHERE wallet_id = ?
		 ORDER BY created_at, did_index LIMIT ? OFFSET ?`,
		walletID)
	return ds, total, mapErr("listing dids", err)
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanWallet(r scanner) (store.Wallet, error) {
	var (
		w     store.Wallet
		state string
	)
	err := r.Scan(&w.ID, &w.Name, &state, &w.SeedDigest,
		timeColumn{&w.CreatedAt}, timeColumn{&w.UpdatedAt})
	if err != nil {
		return store.Wallet{}, err
	}
	w.State = store.WalletState(state)
	return w, nil
}

func scanEntity(r scanner) (store.Entity, error) {
	var e store.Entity
	err := r.Scan(&e.ID, &e.Name, &e.WalletID, timeColumn{&e.CreatedAt}, timeColumn{&e.UpdatedAt})
	if err != nil {
		return store.Entity{}, err
	}
	return e, nil
}

func scanDID(r scanner) (store.DID, error) {
	var d store.DID
	err := r.Scan(&d.WalletID, &d.DIDIndex, &d.ShortForm, &d.LongForm, &d.Status, &d.Keys,
		timeColumn{&d.CreatedAt})
	if err != nil {
		return store.DID{}, err
	}
	return d, nil
}

// timeColumn scans a stored timestamp into the time.Time it points to.
type timeColumn struct {
	dst *time.Time
}

// Scan implements sql.Scanner.
func (c timeColumn) Scan(src any) error {
	text, ok := src.(string)
	if !ok {
		return fmt.Errorf("stored time is %T, want text", src)
	}
	t, err := parseTime(text)
	if err != nil {
		return err
	}
	*c.dst = t
	return nil
}

// list counts and reads one page in a single read transaction, so that the
// total and the page come from the same snapshot. args come before the
// page's limit and offset in the page query.
func list[T any](
	ctx context.Context, db *sql.DB, p store.Page, scan func(scanner) (T, error),
	countQuery, pageQuery string, args ...any,
) (_ []T, _ int, err error) {
	limit, offset, err := norm.Page(p)
	if err != nil {
		return nil, 0, err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer func() { err = errors.Join(err, tx.Rollback()) }()

	var total int
	if err := tx.QueryRowContext(ctx, countQuery, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, pageQuery, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// oneRow turns "no row affected" into ErrNotFound.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
