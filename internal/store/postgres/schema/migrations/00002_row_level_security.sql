-- Row-level security on every table holding wallet data, so that a query of
-- the agent that forgets its wallet condition still cannot return or change
-- another wallet's rows: PostgreSQL filters them itself.
--
-- Every transaction of the agent names its scope in one of two settings,
-- set with set_config(name, value, true) so that the scope ends with the
-- transaction and never travels with a pooled connection to another query:
--
--   prism.wallet_id = '<wallet id>'  a tenant's operation (GetDID, ListDIDs,
--                                    CreateDID, NextDIDIndex, GetWallet, ...):
--                                    only that wallet's rows are visible, and
--                                    only rows of that wallet can be written.
--   prism.scope = 'operator'         an operation that is cross-wallet by
--                                    nature: creating or listing wallets,
--                                    listing or moving entities, checking a
--                                    seed digest, resolving an API key before
--                                    its wallet is known.
--
-- Fail closed: current_setting(name, true) is NULL when the setting was
-- never set in the session, and '' once a transaction that set it has
-- ended. NULL compares as unknown, so no policy accepts the row; '' is no
-- wallet id (wallets.id is never empty and every other wallet_id refers to
-- it) and is not 'operator'. A query outside a scoped transaction therefore
-- sees no row and can write none, instead of seeing everything.
--
-- api_keys has no wallet_id: a key reaches its wallet through its entity.
-- Only operator scope sees key hashes. They are read to authenticate a
-- request, before any wallet is known, and managed by the operator; no
-- tenant operation reads them, so a wallet's scope gets none, which is the
-- narrowest rule and needs no per-row subquery on entities.
--
-- FORCE applies the policies to the tables' owner too, so that a view,
-- function or later migration owned by it cannot read across wallets by
-- accident. Such a migration that reads or rewrites rows must first run
-- SELECT set_config('prism.scope', 'operator', true). Superusers and roles
-- with BYPASSRLS skip row-level security altogether, and an owner can turn
-- it off: the agent's role must be none of these, which the agent checks
-- when it starts.
--
-- Unique and foreign-key checks are not filtered by policies: a duplicate
-- wallet id still answers "already exists", and a DID or entity may refer to
-- its wallet's row whatever the scope.

-- +goose Up
ALTER TABLE wallets ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallets FORCE ROW LEVEL SECURITY;
CREATE POLICY wallets_operator ON wallets
    USING (current_setting('prism.scope', true) = 'operator');
CREATE POLICY wallets_wallet ON wallets
    USING (id = current_setting('prism.wallet_id', true));

ALTER TABLE entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE entities FORCE ROW LEVEL SECURITY;
CREATE POLICY entities_operator ON entities
    USING (current_setting('prism.scope', true) = 'operator');
CREATE POLICY entities_wallet ON entities
    USING (wallet_id = current_setting('prism.wallet_id', true));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_operator ON api_keys
    USING (current_setting('prism.scope', true) = 'operator');

ALTER TABLE dids ENABLE ROW LEVEL SECURITY;
ALTER TABLE dids FORCE ROW LEVEL SECURITY;
CREATE POLICY dids_operator ON dids
    USING (current_setting('prism.scope', true) = 'operator');
CREATE POLICY dids_wallet ON dids
    USING (wallet_id = current_setting('prism.wallet_id', true));

-- +goose Down
DROP POLICY dids_wallet ON dids;
DROP POLICY dids_operator ON dids;
ALTER TABLE dids NO FORCE ROW LEVEL SECURITY;
ALTER TABLE dids DISABLE ROW LEVEL SECURITY;

DROP POLICY api_keys_operator ON api_keys;
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY;

DROP POLICY entities_wallet ON entities;
DROP POLICY entities_operator ON entities;
ALTER TABLE entities NO FORCE ROW LEVEL SECURITY;
ALTER TABLE entities DISABLE ROW LEVEL SECURITY;

DROP POLICY wallets_wallet ON wallets;
DROP POLICY wallets_operator ON wallets;
ALTER TABLE wallets NO FORCE ROW LEVEL SECURITY;
ALTER TABLE wallets DISABLE ROW LEVEL SECURITY;
