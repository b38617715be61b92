#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need (the mariadb client, curl), then every
# unit, integration and sqllogictest test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v mariadb >/dev/null 2>&1 && ! command -v mysql >/dev/null 2>&1; then
  missing+=(mariadb-client)
fi
if ! command -v curl >/dev/null 2>&1; then
  missing+=(curl)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "dev/test.sh: installing ${missing[*]} (the CLI and HTTPS tests drive them)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

cargo fmt --all -- --check
cargo test --workspace "$@"
