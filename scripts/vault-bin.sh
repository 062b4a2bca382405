#!/usr/bin/env bash
# vault-bin.sh prints the path of the Vault server binary used by the tests,
# building it from tools/vault first when the cache does not hold it yet.
#
# The binary is cached per version under
#   ${XDG_CACHE_HOME:-$HOME/.cache}/prism-agent/vault-<version>/vault
# so that a clean clone builds it once (10-15 minutes) and every later run is
# instant. Progress goes to stderr; stdout carries only the path, so that
#   PRISM_TEST_VAULT_BIN="$(scripts/vault-bin.sh)" go test ./...
# works.
set -euo pipefail

VAULT_VERSION=v1.21.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/prism-agent/vault-${VAULT_VERSION}"
bin="${cache_dir}/vault"

if [[ -x "${bin}" ]]; then
	echo "${bin}"
	exit 0
fi

mkdir -p "${cache_dir}"

# Two runs at once (parallel test jobs) must not build twice; the second
# waits for the first and then finds the binary.
if command -v flock >/dev/null 2>&1; then
	exec 9>"${cache_dir}/.build.lock"
	flock 9
	if [[ -x "${bin}" ]]; then
		echo "${bin}"
		exit 0
	fi
fi

cd "${root}/tools/vault"

# go.sum may be absent or incomplete in a fresh checkout; tidy only then, so
# that a committed go.sum is used as is.
if [[ ! -s go.sum ]] || ! go list -deps . >/dev/null 2>&1; then
	echo "vault-bin: resolving modules of tools/vault (go mod tidy -e)" >&2
	go mod tidy -e >&2
fi

echo "vault-bin: building Vault ${VAULT_VERSION} into ${bin} (takes 10-15 minutes)" >&2
tmp="$(mktemp "${cache_dir}/vault.tmp.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
go build -o "${tmp}" . >&2
chmod 0755 "${tmp}"
mv -f "${tmp}" "${bin}"
trap - EXIT

echo "vault-bin: built ${bin}" >&2
echo "${bin}"
