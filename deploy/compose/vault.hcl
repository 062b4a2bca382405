# Vault server of the compose stack: file storage in the vault-data volume,
# plain HTTP on the compose network only (the port is not published).
storage "file" {
  path = "/vault/file"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

# The address other containers use. Vault's OIDC issuer, which signs the
# tenants' JWTs in Phase 3, is named after it, and the agent expects
# $VAULT_ADDR/v1/identity/oidc.
api_addr = "http://vault:8200"

# Containers cannot lock memory without IPC_LOCK; swap should be off on the
# host instead.
disable_mlock = true
ui            = false
