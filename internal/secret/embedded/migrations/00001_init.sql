-- The secret store's schema. Values are only ever stored encrypted: the
-- ciphertext column holds nonce || AES-256-GCM ciphertext || tag, and
-- data_keys holds per-namespace keys wrapped by the master key.

-- +goose Up
CREATE TABLE store_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key_check  BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE data_keys (
    namespace  TEXT    PRIMARY KEY,
    wrapped    BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE secrets (
    path            TEXT    PRIMARY KEY,
    current_version INTEGER NOT NULL CHECK (current_version > 0),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE secret_versions (
    path       TEXT    NOT NULL REFERENCES secrets (path),
    version    INTEGER NOT NULL CHECK (version > 0),
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    destroyed  INTEGER NOT NULL DEFAULT 0 CHECK (destroyed IN (0, 1)),
    ciphertext BLOB,
    PRIMARY KEY (path, version),
    CHECK ((destroyed = 1) = (ciphertext IS NULL))
) STRICT;

-- +goose Down
DROP TABLE secret_versions;
DROP TABLE secrets;
DROP TABLE data_keys;
DROP TABLE store_meta;
