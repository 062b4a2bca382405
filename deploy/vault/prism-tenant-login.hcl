# prism-tenant-login: the policy of the short-lived Vault token a tenant's
# login credentials (userpass or AppRole) give. It can only fetch the
# tenant's identity token (the JWT the agent accepts) and revoke itself.

path "identity/oidc/token/prism-tenant" {
  capabilities = ["read"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}
