"""DataFusion (Python) reading lineitem.parquet directly: the baseline of the full-scan
aggregate benchmark in docs/benchmarks. Usage: python fullscan_datafusion.py PATH [RUNS]"""
import statistics
import sys
import time

QUERY = """SELECT count(*), sum(l_quantity), sum(l_extendedprice), avg(l_discount),
                  max(l_shipdate), min(l_comment) FROM lineitem"""


def main():
    import datafusion

    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    config = datafusion.SessionConfig().with_target_partitions(2)
    ctx = datafusion.SessionContext(config)
    ctx.register_parquet("lineitem", path)
    print(ctx.sql(QUERY).collect()[0].to_pylist())  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        ctx.sql(QUERY).collect()
        times.append(time.perf_counter() - t)
    print(f"datafusion-parquet median {statistics.median(times):.3f}s runs={[round(x, 3) for x in times]}")


if __name__ == "__main__":
    main()
