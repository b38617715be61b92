#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need (the mariadb client, curl, promtool,
# moto's S3 server),
# checks the shipped monitoring files, then every unit, integration and sqllogictest test of the
# workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v mariadb >/dev/null 2>&1 && ! command -v mysql >/dev/null 2>&1; then
  missing+=(mariadb-client)
fi
if ! command -v curl >/dev/null 2>&1; then
  missing+=(curl)
fi
if ! command -v promtool >/dev/null 2>&1; then
  missing+=(prometheus)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "dev/test.sh: installing ${missing[*]} (the CLI, HTTPS and metrics tests drive them)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# The S3 backup test runs against moto's S3 server on loopback.
if ! command -v moto_server >/dev/null 2>&1; then
  echo "dev/test.sh: installing moto[server] (the S3 backup test drives it)"
  python3 -m pip install --quiet "moto[server]"
fi
export RIGEL_REQUIRE_MOTO=1

# The shipped alert rules and scrape configuration must load in Prometheus.
promtool check rules monitoring/alerts.yml
promtool check config monitoring/prometheus.yml
python3 -c 'import json,sys; json.load(open("monitoring/grafana-dashboard.json"))'
# The metrics test scrapes a running server through `promtool check metrics`.
export RIGEL_REQUIRE_PROMTOOL=1

cargo fmt --all -- --check
# The backend role builds without any frontend crate: `rigel` without its `frontend`
# feature is `rigel be` alone (`cargo build -p rigel --no-default-features`).
be_crates=$(cargo tree -p rigel --no-default-features -e normal --prefix none \
  | grep -oE '^rigel-[a-z-]+' | sort -u)
if grep -qxE 'rigel-(frontend|catalog|cluster|audit|mysql|sql)' <<<"$be_crates"; then
  echo "dev/test.sh: the backend role depends on a frontend crate:" $be_crates >&2
  exit 1
fi
cargo test --workspace "$@"
