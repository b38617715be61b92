#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need (the mariadb client), then every
# unit, integration and sqllogictest test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mariadb >/dev/null 2>&1 && ! command -v mysql >/dev/null 2>&1; then
  echo "dev/test.sh: installing mariadb-client (the CLI tests drive it)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-client
fi

cargo fmt --all -- --check
cargo test --workspace "$@"
