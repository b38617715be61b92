#!/usr/bin/env bash
# Backup and restore throughput: a TPC-H database (loaded by `rigel bench tpch`) backed up
# in full to a directory repository and to moto's S3 server on loopback, restored from each,
# then 1% of lineitem's rows added and an incremental backup taken (what it uploads).
#
# usage: [RUNS=3] bench/scripts/backup.sh RIGEL_BINARY TBL_DIR [SF]
# Needs moto_server on PATH; leaves everything under $WORK (default /tmp/rigel-backup-bench).
set -euo pipefail
RIGEL=$(realpath "$1")
TBL=$(realpath "$2")
SF=${3:-1}
WORK=${WORK:-/tmp/rigel-backup-bench}
rm -rf "$WORK" && mkdir -p "$WORK/repo"
PORT=19030 HTTP=18030 BEHTTP=18040 S3PORT=19000

"$RIGEL" server --data-dir "$WORK/data" --query-port $PORT --http-port $HTTP \
  --be-http-port $BEHTTP >"$WORK/server.log" 2>&1 &
SERVER=$!
moto_server -H 127.0.0.1 -p $S3PORT >"$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill $SERVER $MOTO 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  mariadb -h127.0.0.1 -P$PORT -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2
done
for _ in $(seq 100); do curl -s "http://127.0.0.1:$S3PORT" >/dev/null && break; sleep 0.2; done
curl -s -X PUT "http://127.0.0.1:$S3PORT/bench" >/dev/null

"$RIGEL" bench tpch --host 127.0.0.1 --port $PORT --http-port $HTTP --tbl-dir "$TBL" --sf "$SF" \
  --queries 1 --runs 1 --warmup 0 --verify none >/dev/null
sql() { mariadb -h127.0.0.1 -P$PORT -uroot -N -e "$1"; }
sql "CREATE REPOSITORY dir WITH BROKER ON LOCATION 'file://$WORK/repo'"
sql "CREATE REPOSITORY s3 WITH BROKER ON LOCATION 's3://bench/rigel' PROPERTIES (
  'aws.s3.endpoint' = 'http://127.0.0.1:$S3PORT', 'aws.s3.access_key' = 'bench',
  'aws.s3.secret_key' = 'bench')"
BYTES=$(sql "SELECT sum(data_length) FROM information_schema.tables WHERE table_schema = 'tpch'")
echo "database tpch: $BYTES bytes on disk"

timed() { # label, command...
  local start end
  start=$(date +%s.%N)
  "${@:2}"
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'$1: {s:.1f} s, {int(sys.argv[3])/s/1e6:.0f} MB/s')" "$start" "$end" "$BYTES"
}
RUNS=${RUNS:-3}
for repo in dir s3; do
  for run in $(seq "$RUNS"); do
    timed "full backup to $repo" "$RIGEL" backup --port $PORT --repo $repo --quiet full --db tpch --snapshot "full$run"
  done
  for run in $(seq "$RUNS"); do
    timed "restore from $repo" "$RIGEL" backup --port $PORT --repo $repo --quiet restore --db tpch --snapshot full1 --as "restored_${repo}_$run"
    sql "DROP DATABASE restored_${repo}_$run FORCE"
  done
done
ROWS=$(sql "SELECT count(*) FROM tpch.lineitem")
sql "INSERT INTO tpch.lineitem SELECT * FROM tpch.lineitem LIMIT $((ROWS / 100))"
echo "added $((ROWS / 100)) rows (1%) to lineitem ($ROWS rows)"
for repo in dir s3; do
  "$RIGEL" backup --port $PORT --repo $repo --quiet incremental --db tpch --snapshot daily
done
