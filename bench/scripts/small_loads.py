"""1,000 small loads into a DUPLICATE KEY and a UNIQUE KEY table: query times before and
after compaction. Usage: python small_loads.py [path/to/rigel] [scratch dir]. Starts its own
server on the default ports."""
import pymysql, time, statistics, subprocess, os, shutil, json, urllib.request
import sys
BIN = sys.argv[1] if len(sys.argv) > 1 else 'target/release/rigel'
D = sys.argv[2] if len(sys.argv) > 2 else '/tmp/rigel-small-loads'; shutil.rmtree(D, ignore_errors=True); os.makedirs(D)
srv=subprocess.Popen([BIN,'server','--data-dir',D+'/data'],stdout=open(D+'/log','w'),stderr=subprocess.STDOUT)
for _ in range(100):
    try:
        c=pymysql.connect(host='127.0.0.1',port=9030,user='root',autocommit=True); break
    except Exception: time.sleep(0.2)
cur=c.cursor()
cur.execute("ADMIN SET FRONTEND CONFIG ('cumulative_compaction_check_interval_seconds' = '0')")
cur.execute("CREATE DATABASE s"); cur.execute("USE s")
cur.execute("CREATE TABLE t (k BIGINT NOT NULL, d DATE, v DECIMAL(10,2), s VARCHAR(20)) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2")
cur.execute("CREATE TABLE u (k BIGINT NOT NULL, v BIGINT, s VARCHAR(20)) UNIQUE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2")
t0=time.time()
for i in range(1000):
    vals=",".join(f"({i*100+j}, '2024-01-{1+j%28:02d}', {j}.25, 'x{j}')" for j in range(100))
    cur.execute(f"INSERT INTO t VALUES {vals}")
    vals=",".join(f"({(i*100+j)%20000}, {i}, 'y{j}')" for j in range(100))
    cur.execute(f"INSERT INTO u VALUES {vals}")
load=time.time()-t0
Q=["SELECT count(*), sum(v) FROM t", "SELECT d, count(*) FROM t GROUP BY d ORDER BY d LIMIT 3", "SELECT count(*), sum(v) FROM u", "SELECT * FROM u WHERE k = 777"]
def bench():
    out=[]
    for q in Q:
        ts=[]
        for r in range(6):
            a=time.time(); cur.execute(q); cur.fetchall(); ts.append(time.time()-a)
        out.append(statistics.median(ts[1:]))
    return out
before=bench()
cur.execute("ADMIN SET FRONTEND CONFIG ('cumulative_compaction_check_interval_seconds' = '1')")
t1=time.time()
while True:
    cur.execute("SELECT candidate_max_score FROM information_schema.be_compactions"); ms=cur.fetchone()[0]
    if ms is not None and ms <= 1 and time.time()-t1>2: break
    if time.time()-t1>600: break
    time.sleep(1)
comp=time.time()-t1
after=bench()
print(f"2 x 1000 INSERTs of 100 rows: {load:.1f} s; compaction to one rowset per tablet: {comp:.1f} s")
for q,b,a in zip(Q,before,after): print(f"{b*1000:8.1f} ms -> {a*1000:8.1f} ms  {q}")
cur.execute("SELECT count(*) FROM u"); print("u rows", cur.fetchone())
srv.terminate()
