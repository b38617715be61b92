"""Rigel over the MySQL protocol: the same full-scan aggregate as fullscan_datafusion.py,
against a running server whose database `tpch` holds lineitem (rigel bench tpch loads it).
Usage: python fullscan_rigel.py [HOST] [PORT] [RUNS]   (needs pymysql)"""
import statistics
import sys
import time

import pymysql

from fullscan_datafusion import QUERY

host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 9030
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
conn = pymysql.connect(host=host, port=port, user="root", password="", database="tpch")
cur = conn.cursor()
cur.execute(QUERY)  # warm-up
print(cur.fetchall())
times = []
for _ in range(runs):
    t = time.perf_counter()
    cur.execute(QUERY)
    cur.fetchall()
    times.append(time.perf_counter() - t)
print(f"rigel-mysql median {statistics.median(times):.3f}s runs={[round(x, 3) for x in times]}")
