package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	err = s.asOperator(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO wallets (`+walletColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			w.ID, w.Name, string(w.State), w.SeedDigest, w.CreatedAt, w.UpdatedAt)
		return err
	})
	return mapErr("creating wallet", err)
}

// GetWallet returns the wallet with the id.
func (s *Store) GetWallet(ctx context.Context, id string) (store.Wallet, error) {
	var w store.Wallet
	err := s.inWallet(ctx, id, func(tx pgx.Tx) error {
		var err error
		w, err = scanWallet(tx.QueryRow(ctx,
			`SELECT `+walletColumns+` FROM wallets WHERE id = $1`, id))
		return err
	})
	return w, mapErr("getting wallet", err)
}

// SeedDigestInUse reports whether any wallet has this seed digest, which
// makes it an operator query.
func (s *Store) SeedDigestInUse(ctx context.Context, digest []byte) (bool, error) {
	var n int
	err := s.asOperator(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx,
			`SELECT count(*) FROM wallets WHERE seed_digest = $1`, digest).Scan(&n)
	})
	return n > 0, mapErr("checking seed digest", err)
}

// ListWallets returns a page of wallets and the number of wallets.
func (s *Store) ListWallets(ctx context.Context, p store.Page) ([]store.Wallet, int, error) {
	var (
		ws    []store.Wallet
		total int
	)
	err := s.asOperator(ctx, func(tx pgx.Tx) error {
		var err error
		ws, total, err = list(ctx, tx, p, scanWallet,
			`SELECT count(*) FROM wallets`,
			`SELECT `+walletColumns+` FROM wallets ORDER BY created_at, id LIMIT $1 OFFSET $2`)
		return err
	})
	return ws, total, mapErr("listing wallets", err)
}

// SetWalletState changes a wallet's state.
func (s *Store) SetWalletState(ctx context.Context, id string, st store.WalletState) error {
	if err := norm.WalletState(st); err != nil {
		return fmt.Errorf("setting wallet state: %w", err)
	}
	err := s.inWallet(ctx, id, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE wallets SET state = $1, updated_at = $2 WHERE id = $3`,
			string(st), norm.Time(time.Time{}), id)
		return oneRow(tag, err)
	})
	return mapErr("setting wallet state", err)
}

const entityColumns = "id, name, wallet_id, created_at, updated_at"

// CreateEntity inserts an entity; ErrNotFound if its wallet does not exist.
// It runs in the scope of the entity's wallet, the narrowest that allows
// the row.
func (s *Store) CreateEntity(ctx context.Context, e store.Entity) error {
	e, err := norm.Entity(e)
	if err != nil {
		return fmt.Errorf("creating entity: %w", err)
	}
	err = s.inWallet(ctx, e.WalletID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO entities (`+entityColumns+`) VALUES ($1, $2, $3, $4, $5)`,
			e.ID, e.Name, e.WalletID, e.CreatedAt, e.UpdatedAt)
		return err
	})
	return mapErr("creating entity", err)
}

// GetEntity returns the entity with the id. Its wallet is not known
// beforehand, so this is an operator query.
func (s *Store) GetEntity(ctx context.Context, id string) (store.Entity, error) {
	var e store.Entity
	err := s.asOperator(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = scanEntity(tx.QueryRow(ctx,
			`SELECT `+entityColumns+` FROM entities WHERE id = $1`, id))
		return err
	})
	return e, mapErr("getting entity", err)
}

// ListEntities returns a page of entities and the number of entities.
func (s *Store) ListEntities(ctx context.Context, p store.Page) ([]store.Entity, int, error) {
	var (
		es    []store.Entity
		total int
	)
	err := s.asOperator(ctx, func(tx pgx.Tx) error {
		var err error
		es, total, err = list(ctx, tx, p, scanEntity,
			`SELECT count(*) FROM entities`,
			`SELECT `+entityColumns+` FROM entities ORDER BY created_at, id LIMIT $1 OFFSET $2`)
		return err
	})
	return es, total, mapErr("listing entities", err)
}

// UpdateEntity sets an entity's name, wallet and update time; its creation
// time is kept. Moving an entity spans two wallets, so this is an operator
// query.
func (s *Store) UpdateEntity(ctx context.Context, e store.Entity) error {
	e, err := norm.Entity(e)
	if err != nil {
		return fmt.Errorf("updating entity: %w", err)
	}
	err = s.asOperator(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE entities SET name = $1, wallet_id = $2, updated_at = $3 WHERE id = $4`,
			e.Name, e.WalletID, e.UpdatedAt, e.ID)
		return oneRow(tag, err)
	})
	return mapErr("updating entity", err)
}

// DeleteEntity removes the entity, an operator query; its API keys go with
// it (ON DELETE CASCADE, which row-level security does not filter).
func (s *Store) DeleteEntity(ctx context.Context, id string) error {
	err := s.asOperator(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM entities WHERE id = $1`, id)
		return oneRow(tag, err)
	})
	return mapErr("deleting entity", err)
}

// AddAPIKey stores a key hash; ErrConflict if the hash is registered,
// ErrNotFound if the entity does not exist. Only operator scope sees API
// keys.
func (s *Store) AddAPIKey(ctx context.Context, k store.APIKey) error {
	k, err := norm.APIKey(k)
	if err != nil {
		return fmt.Errorf("adding api key: %w", err)
	}
	err = s.asOperator(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO api_keys (hash, entity_id, created_at) VALUES ($1, $2, $3)`,
			k.Hash, k.EntityID, k.CreatedAt)
		return err
	})
	return mapErr("adding api key", err)
}

// DeleteAPIKey removes the hash if it belongs to the entity, else
// ErrNotFound. Only operator scope sees API keys.
func (s *Store) DeleteAPIKey(ctx context.Context, entityID string, hash []byte) error {
	err := s.asOperator(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`DELETE FROM api_keys WHERE hash = $1 AND entity_id = $2`, hash, entityID)
		return oneRow(tag, err)
	})
	return mapErr("deleting api key", err)
}

// LookupAPIKey resolves a key hash to its entity and wallet in one query.
// It runs before the wallet is known, so it is an operator query.
func (s *Store) LookupAPIKey(ctx context.Context, hash []byte) (store.Principal, error) {
	var (
		p     store.Principal
		state string
	)
	err := s.asOperator(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			SELECT e.id, e.name, e.wallet_id, e.created_at, e.updated_at,
			       w.id, w.name, w.state, w.seed_digest, w.created_at, w.updated_at
			FROM api_keys k
			JOIN entities e ON e.id = k.entity_id
			JOIN wallets w ON w.id = e.wallet_id
			WHERE k.hash = $1`, hash).Scan(
			&p.Entity.ID, &p.Entity.Name, &p.Entity.WalletID, &p.Entity.CreatedAt,
			&p.Entity.UpdatedAt, &p.Wallet.ID, &p.Wallet.Name, &state, &p.Wallet.SeedDigest,
			&p.Wallet.CreatedAt, &p.Wallet.UpdatedAt)
	})
	if err != nil {
		return store.Principal{}, mapErr("looking up api key", err)
	}
	p.Wallet.State = store.WalletState(state)
	utc(&p.Entity.CreatedAt, &p.Entity.UpdatedAt, &p.Wallet.CreatedAt, &p.Wallet.UpdatedAt)
	return p, nil
}

// NextDIDIndex allocates the wallet's next did-index. The UPDATE takes the
// wallet's row lock, so concurrent callers, in this process or another,
// each get their own index.
func (s *Store) NextDIDIndex(ctx context.Context, walletID string) (int, error) {
	var idx int
	err := s.inWallet(ctx, walletID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			UPDATE wallets SET next_did_index = next_did_index + 1
			WHERE id = $1 RETURNING next_did_index - 1`, walletID).Scan(&idx)
	})
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
	err = s.inWallet(ctx, d.WalletID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO dids (`+didColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			d.WalletID, d.DIDIndex, d.ShortForm, d.LongForm, d.Status, d.Keys, d.CreatedAt)
		return err
	})
	return mapErr("creating did", err)
}

// GetDID finds a DID of the wallet by short form.
func (s *Store) GetDID(ctx context.Context, walletID, shortForm string) (store.DID, error) {
	var d store.DID
	err := s.inWallet(ctx, walletID, func(tx pgx.Tx) error {
		var err error
		d, err = scanDID(tx.QueryRow(ctx,
			`SELECT `+didColumns+` FROM dids WHERE wallet_id = $1 AND short_form = $2`,
			walletID, shortForm))
		return err
	})
	return d, mapErr("getting did", err)
}

// ListDIDs returns a page of the wallet's DIDs and how many it has.
func (s *Store) ListDIDs(
	ctx context.Context, walletID string, p store.Page,
) ([]store.DID, int, error) {
	var (
		ds    []store.DID
		total int
	)
	err := s.inWallet(ctx, walletID, func(tx pgx.Tx) error {
		var err error
		ds, total, err = list(ctx, tx, p, scanDID,
			`SELECT count(*) FROM dids WHERE wallet_id = $1`,
			`SELECT `+didColumns+` FROM dids WHERE wallet_id = $1
			 ORDER BY created_at, did_index LIMIT $2 OFFSET $3`,
			walletID)
		return err
	})
	return ds, total, mapErr("listing dids", err)
}

func scanWallet(r pgx.Row) (store.Wallet, error) {
	var (
		w     store.Wallet
		state string
	)
	if err := r.Scan(&w.ID, &w.Name, &state, &w.SeedDigest, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return store.Wallet{}, err
	}
	w.State = store.WalletState(state)
	utc(&w.CreatedAt, &w.UpdatedAt)
	return w, nil
}

func scanEntity(r pgx.Row) (store.Entity, error) {
	var e store.Entity
	if err := r.Scan(&e.ID, &e.Name, &e.WalletID, &e.CreatedAt, &e.UpdatedAt); err != nil {
		return store.Entity{}, err
	}
	utc(&e.CreatedAt, &e.UpdatedAt)
	return e, nil
}

func scanDID(r pgx.Row) (store.DID, error) {
	var d store.DID
	err := r.Scan(&d.WalletID, &d.DIDIndex, &d.ShortForm, &d.LongForm, &d.Status, &d.Keys,
		&d.CreatedAt)
	if err != nil {
		return store.DID{}, err
	}
	utc(&d.CreatedAt)
	return d, nil
}

// utc puts scanned times in UTC: pgx returns timestamptz in the local zone.
func utc(ts ...*time.Time) {
	for _, t := range ts {
		*t = t.UTC()
	}
}

// querier is what the pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// list counts and reads one page. args come before the page's limit and
// offset in the page query.
func list[T any](
	ctx context.Context, q querier, p store.Page, scan func(pgx.Row) (T, error),
	countQuery, pageQuery string, args ...any,
) ([]T, int, error) {
	limit, offset, err := norm.Page(p)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.QueryRow(ctx, countQuery, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.Query(ctx, pageQuery, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, 0, err
	}
	if out == nil {
		out = []T{}
	}
	return out, total, nil
}

// oneRow turns "no row affected" into ErrNotFound.
func oneRow(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
