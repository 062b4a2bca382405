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

# Aliases binding wallet entities to the token auth method, so that wallet
# tokens can be minted for them.
path "identity/entity-alias" {
  capabilities       = ["create", "update"]
  allowed_parameters = {
    "name"           = ["prism-wallet-*"]
    "canonical_id"   = []
    "mount_accessor" = []
  }
}

# Finding the token auth method's accessor for those aliases.
path "sys/auth" {
  capabilities = ["read"]
}

# Minting wallet tokens; the token role allows the prism-wallet policy and
# prism-wallet-* entity aliases only.
path "auth/token/create/{{TOKEN_ROLE}}" {
  capabilities = ["create", "update"]
}

# Keeping its own token alive.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
