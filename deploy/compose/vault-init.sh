#!/bin/sh
# vault-init.sh initialises the compose stack's Vault on its first start and
# unseals it on every start. It keeps the single unseal key and the root
# token in $PRISM_VAULT_KEYS_DIR (a volume that only this service and the
# bootstrap service mount), and gives the root token to $PRISM_TOKEN_OWNER
# (the uid of the bootstrap container) when set.
#
# A demonstration setup: keys that sit next to the data do not protect it.
# In production, unseal with a KMS or HSM (seal "awskms", "transit", ...),
# split the key among operators, and revoke the root token after bootstrap.
set -eu

keys="${PRISM_VAULT_KEYS_DIR:-/vault/keys}"
umask 077

# vault status: 0 unsealed, 2 sealed (or not initialised), 1 no answer.
tries=0
while :; do
  rc=0
  vault status > /dev/null 2>&1 || rc=$?
  [ "$rc" -ne 1 ] && break
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "vault-init.sh: Vault at $VAULT_ADDR does not answer" >&2
    exit 1
  fi
  sleep 1
done

if vault status -format=json 2> /dev/null | grep -q '"initialized": false'; then
  vault operator init -key-shares=1 -key-threshold=1 > "$keys/init.txt"
  awk '/^Unseal Key 1:/ { print $NF }' "$keys/init.txt" > "$keys/unseal-key"
  awk '/^Initial Root Token:/ { print $NF }' "$keys/init.txt" > "$keys/root-token"
  rm -f "$keys/init.txt"
  if [ ! -s "$keys/unseal-key" ] || [ ! -s "$keys/root-token" ]; then
    echo "vault-init.sh: could not read the unseal key and root token" >&2
    exit 1
  fi
  echo "vault-init.sh: Vault initialised" >&2
fi

if [ -n "${PRISM_TOKEN_OWNER:-}" ]; then
  chown "$PRISM_TOKEN_OWNER" "$keys/root-token"
fi

if ! vault status > /dev/null 2>&1; then
  if [ ! -s "$keys/unseal-key" ]; then
    echo "vault-init.sh: Vault is sealed and $keys/unseal-key is missing" >&2
    exit 1
  fi
  # key=@file: the key never appears on a command line.
  vault write sys/unseal key=@"$keys/unseal-key" > /dev/null
  echo "vault-init.sh: Vault unsealed" >&2
fi
vault status > /dev/null
