# prism-wallet: the policy of every wallet token. It is templated on the
# wallet entity's metadata, so a token reaches its own wallet's subtree of
# the KV v2 mount and nothing else. A token without wallet_id metadata
# matches no path at all.

path "{{KV_MOUNT}}/data/{{identity.entity.metadata.wallet_id}}/*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "{{KV_MOUNT}}/metadata/{{identity.entity.metadata.wallet_id}}/*" {
  capabilities = ["create", "read", "list", "update", "delete"]
}

path "{{KV_MOUNT}}/delete/{{identity.entity.metadata.wallet_id}}/*" {
  capabilities = ["update"]
}

path "{{KV_MOUNT}}/undelete/{{identity.entity.metadata.wallet_id}}/*" {
  capabilities = ["update"]
}

path "{{KV_MOUNT}}/destroy/{{identity.entity.metadata.wallet_id}}/*" {
  capabilities = ["update"]
}
