#!/usr/bin/env bash
# Runs the whole test suite the way CI does: it builds or fetches what the
# tests need (Go modules, the Vault server, staticcheck), starts PostgreSQL
# when it is not running, then runs formatting, vet, lint and every test
# against a real Vault and a real PostgreSQL. Nothing is skipped: a missing
# dependency fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
cache="${XDG_CACHE_HOME:-$HOME/.cache}/prism-agent"
mkdir -p "$cache/bin"

step() { printf '\n== %s\n' "$*" >&2; }

step "PostgreSQL"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

step "Chromium (for the API page test)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
/usr/bin/chromium --version

step "Go modules"
go mod download

step "Vault server"
PRISM_TEST_VAULT_BIN="$(scripts/vault-bin.sh)"
export PRISM_TEST_VAULT_BIN
"$PRISM_TEST_VAULT_BIN" version

step "staticcheck $STATICCHECK_VERSION"
staticcheck="$cache/bin/staticcheck-$STATICCHECK_VERSION"
if [ ! -x "$staticcheck" ]; then
  GOBIN="$cache/bin/tmp" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  mv "$cache/bin/tmp/staticcheck" "$staticcheck"
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^tools/') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

step "go vet"
go vet ./...

step "staticcheck"
"$staticcheck" ./...

step "go test (race detector, real Vault and PostgreSQL)"
go test -race -count=1 -timeout 40m "$@" ./...
