# prism-agent: the agent's own Vault account in the isolated modes
# (PRISM_WALLET_VAULT_AUTH=token-role or jwt). It manages one identity per
# wallet and mints wallet tokens, and has NO access to secret data: the
# wallets' secrets are read only with wallet tokens (policy prism-wallet).

# Wallet entities, by name only, and only their metadata and state: the
# agent cannot attach policies to an entity.
path "identity/entity/name/prism-wallet-*" {
  capabilities       = ["create", "read", "update"]
  allowed_parameters = {
    "metadata" = []
    "disabled" = []
  }
}

# Aliases binding wallet entities to the token auth method (to mint wallet
# tokens), to the JWT auth method (so a tenant's JWT logs in as its wallet)
# and to the tenants' login methods. Only these three fields may be set.
path "identity/entity-alias" {
  capabilities       = ["create", "update"]
  allowed_parameters = {
    "name"           = []
    "canonical_id"   = []
    "mount_accessor" = []
  }
}

# Tenants' login credentials: one userpass user and one AppRole role per
# wallet, whose tokens can only fetch the tenant's identity token.
path "auth/prism-tenants-userpass/users/*" {
  capabilities = ["create", "update", "read", "delete"]
}

path "auth/prism-tenants-approle/role/*" {
  capabilities = ["create", "update", "read", "delete"]
}

# Finding the token auth method's accessor for those aliases.
path "sys/auth" {
  capabilities = ["read"]
}

# Minting wallet tokens; the token role allows the prism-wallet policy and
# prism-wallet-* entity aliases only.
path "auth/token/create/prism-wallet" {
  capabilities = ["create", "update"]
}

# Keeping its own token alive.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
