#!/bin/sh
# bootstrap.sh configures Vault for the agent (`prism-agent vault bootstrap`,
# idempotent) with the root token that vault-init.sh left in
# $VAULT_TOKEN_FILE, and leaves the agent's settings in $PRISM_RUN_DIR:
# agent.env (KEY=VALUE lines, no secrets) and secret-id (the AppRole secret
# id, mode 0600). Vault issues a secret id when it creates the agent's role,
# or here when the volume lost the file; a later run keeps the one there is.
set -eu

run="${PRISM_RUN_DIR:-/run/prism}"
set -- -secret-id-file "$run/secret-id" "$@"
if [ ! -s "$run/secret-id" ]; then
  set -- -new-secret-id "$@"
fi

prism-agent vault bootstrap "$@" > "$run/agent.env.new"
mv "$run/agent.env.new" "$run/agent.env"
echo "bootstrap.sh: agent settings written to $run/agent.env" >&2
