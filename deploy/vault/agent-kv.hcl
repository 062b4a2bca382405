# Policy of the agent's own Vault account in the agent mode
# (PRISM_WALLET_VAULT_AUTH=agent, Phases 1 and 2): read and write every
# wallet's secrets in the KV v2 mount "secret". Change "secret" if you set
# VAULT_KV_MOUNT. In the isolated modes (token-role, jwt) use prism-agent.hcl
# instead, which has no access to secret data.

path "secret/data/*" {
  capabilities = ["create", "read", "update"]
}

path "secret/metadata/*" {
  capabilities = ["read", "list", "update"]
}

path "secret/delete/*" {
  capabilities = ["update"]
}

path "secret/undelete/*" {
  capabilities = ["update"]
}

path "secret/destroy/*" {
  capabilities = ["update"]
}

# Readiness checks Vault's health, which needs no token; these let the agent
# keep its own token alive.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
