"""1,000 small loads into a DUPLICATE KEY and a UNIQUE KEY table: query times before and
after compaction.

Usage: python small_loads.py [path/to/rigel] [scratch dir]
Starts its own server on the default ports (9030/8030/8040).
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

import pymysql

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/rigel"
DIR = sys.argv[2] if len(sys.argv) > 2 else "/tmp/rigel-small-loads"
LOADS = 1000
QUERIES = [
    "SELECT count(*), sum(v) FROM t",
    "SELECT d, count(*) FROM t GROUP BY d ORDER BY d LIMIT 3",
    "SELECT count(*), sum(v) FROM u",
    "SELECT * FROM u WHERE k = 777",
]


def connect():
    for _ in range(100):
        try:
            return pymysql.connect(host="127.0.0.1", port=9030, user="root", autocommit=True)
        except pymysql.err.OperationalError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def timings(cur):
    """Median of the last 5 of 6 runs of each query, in seconds."""
    out = []
    for q in QUERIES:
        runs = []
        for _ in range(6):
            started = time.time()
            cur.execute(q)
            cur.fetchall()
            runs.append(time.time() - started)
        out.append(statistics.median(runs[1:]))
    return out


def main():
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(DIR)
    with open(os.path.join(DIR, "log"), "w") as log:
        server = subprocess.Popen(
            [BIN, "server", "--data-dir", os.path.join(DIR, "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        cur = connect().cursor()
        cur.execute(
            "ADMIN SET FRONTEND CONFIG ('cumulative_compaction_check_interval_seconds' = '0')"
        )
        cur.execute("CREATE DATABASE s")
        cur.execute("USE s")
        cur.execute(
            "CREATE TABLE t (k BIGINT NOT NULL, d DATE, v DECIMAL(10, 2), s VARCHAR(20)) "
            "DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2"
        )
        cur.execute(
            "CREATE TABLE u (k BIGINT NOT NULL, v BIGINT, s VARCHAR(20)) "
            "UNIQUE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2"
        )
        started = time.time()
        for i in range(LOADS):
            rows = ",".join(
                f"({i * 100 + j}, '2024-01-{1 + j % 28:02d}', {j}.25, 'x{j}')" for j in range(100)
            )
            cur.execute(f"INSERT INTO t VALUES {rows}")
            rows = ",".join(f"({(i * 100 + j) % 20000}, {i}, 'y{j}')" for j in range(100))
            cur.execute(f"INSERT INTO u VALUES {rows}")
        load_secs = time.time() - started
        before = timings(cur)
        cur.execute(
            "ADMIN SET FRONTEND CONFIG ('cumulative_compaction_check_interval_seconds' = '1')"
        )
        started = time.time()
        while time.time() - started < 600:
            time.sleep(1)
            cur.execute("SELECT candidate_max_score FROM information_schema.be_compactions")
            if cur.fetchone()[0] <= 1 and time.time() - started > 2:
                break
        compact_secs = time.time() - started
        after = timings(cur)
        print(
            f"2 x {LOADS} INSERTs of 100 rows: {load_secs:.1f} s; "
            f"compaction to one rowset per tablet: {compact_secs:.1f} s"
        )
        for q, b, a in zip(QUERIES, before, after):
            print(f"{b * 1000:8.1f} ms -> {a * 1000:8.1f} ms  {q}")
        cur.execute("SELECT count(*) FROM u")
        print("rows of u:", cur.fetchone()[0])
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
