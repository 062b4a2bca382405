-- Initial schema of the non-secret store. Timestamps are UTC text in a
-- fixed-width layout with microseconds, so text order is time order.

-- +goose Up
CREATE TABLE wallets (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    name           TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('ACTIVE', 'DISABLED')),
    seed_digest    BLOB    UNIQUE,
    next_did_index INTEGER NOT NULL DEFAULT 0 CHECK (next_did_index >= 0),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
) STRICT;

CREATE INDEX wallets_created_at_id ON wallets (created_at, id);

CREATE TABLE entities (
    id         TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
    name       TEXT NOT NULL,
    wallet_id  TEXT NOT NULL REFERENCES wallets (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE INDEX entities_created_at_id ON entities (created_at, id);
CREATE INDEX entities_wallet_id ON entities (wallet_id);

CREATE TABLE api_keys (
    hash       BLOB NOT NULL PRIMARY KEY,
    entity_id  TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX api_keys_entity_id ON api_keys (entity_id);

CREATE TABLE dids (
    wallet_id  TEXT    NOT NULL REFERENCES wallets (id),
    did_index  INTEGER NOT NULL CHECK (did_index >= 0),
    short_form TEXT    NOT NULL,
    long_form  TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    keys       BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (wallet_id, short_form),
    UNIQUE (wallet_id, did_index)
) STRICT;

CREATE INDEX dids_wallet_created_at ON dids (wallet_id, created_at, did_index);

-- +goose Down
DROP TABLE dids;
DROP TABLE api_keys;
DROP TABLE entities;
DROP TABLE wallets;
