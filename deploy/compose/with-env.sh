#!/bin/sh
# with-env.sh runs a command (the agent) with the settings that
# `prism-agent vault bootstrap` wrote to $PRISM_SETTINGS_FILE added to its
# environment. The file is read as data, KEY=VALUE per line, never run as
# shell code; blank lines and # comments are skipped. A variable the
# container already has wins over the file, so compose.yaml can override a
# bootstrap setting (PRISM_WALLET_VAULT_AUTH=jwt, say).
set -eu

settings="${PRISM_SETTINGS_FILE:-/run/prism/agent.env}"
if [ ! -r "$settings" ]; then
  echo "with-env.sh: cannot read $settings; has the bootstrap service run?" >&2
  exit 1
fi

while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    '' | '#'*) continue ;;
    *=*) ;;
    *) echo "with-env.sh: $settings: a line is not KEY=VALUE" >&2; exit 1 ;;
  esac
  name="${line%%=*}"
  value="${line#*=}"
  case "$name" in
    '' | [0-9]* | *[!A-Za-z0-9_]*)
      echo "with-env.sh: $settings: $name is not a variable name" >&2; exit 1 ;;
  esac
  eval "present=\${$name+set}"
  if [ -z "$present" ]; then
    export "$name=$value"
  fi
done < "$settings"

exec "$@"
