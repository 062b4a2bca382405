-- Initial schema of the non-secret store. Every table holding wallet data
-- carries wallet_id, so that row-level security can key on it.

-- +goose Up
CREATE TABLE wallets (
    id             text        PRIMARY KEY CHECK (id <> ''),
    name           text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('ACTIVE', 'DISABLED')),
    seed_digest    bytea       UNIQUE,
    next_did_index integer     NOT NULL DEFAULT 0 CHECK (next_did_index >= 0),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE INDEX wallets_created_at_id ON wallets (created_at, id);

CREATE TABLE entities (
    id         text        PRIMARY KEY CHECK (id <> ''),
    name       text        NOT NULL,
    wallet_id  text        NOT NULL REFERENCES wallets (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX entities_created_at_id ON entities (created_at, id);
CREATE INDEX entities_wallet_id ON entities (wallet_id);

CREATE TABLE api_keys (
    hash       bytea       PRIMARY KEY,
    entity_id  text        NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);

CREATE INDEX api_keys_entity_id ON api_keys (entity_id);

-- keys is json, not jsonb: the DID package owns the bytes and gets back
-- exactly what it wrote.
CREATE TABLE dids (
    wallet_id  text        NOT NULL REFERENCES wallets (id),
    did_index  integer     NOT NULL CHECK (did_index >= 0),
    short_form text        NOT NULL,
    long_form  text        NOT NULL,
    status     text        NOT NULL,
    keys       json        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, short_form),
    UNIQUE (wallet_id, did_index)
);

CREATE INDEX dids_wallet_created_at ON dids (wallet_id, created_at, did_index);

-- +goose Down
DROP TABLE dids;
DROP TABLE api_keys;
DROP TABLE entities;
DROP TABLE wallets;
