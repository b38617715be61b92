//! TPC-H at a small scale factor: generate, Stream Load, run the 22 queries over the MySQL
//! protocol, and compare every answer with DataFusion run directly on the same files.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_22_queries_match_datafusion() {
    let dir = tempfile::tempdir().unwrap();
    let args = sf001_checked(dir.path().to_path_buf(), embedded());
    let all_correct = rigel::bench::run(args).await.expect("benchmark runs");
    assert!(
        all_correct,
        "some TPC-H answers differ from DataFusion's (see the JSON above)"
    );
}

/// `rigel bench pk` end to end at a small size: inserts, upserts (every key replaced),
/// the count and sum checks and concurrent point lookups that must all find the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_key_bench_loads_upserts_and_looks_up() {
    let dir = tempfile::tempdir().unwrap();
    let args = rigel::bench_pk::PkArgs {
        rows: 30_000,
        buckets: 3,
        clients: 8,
        lookups: 400,
        warmup: 2,
        rate: 0,
        work_dir: dir.path().to_path_buf(),
        endpoint: embedded(),
        database: "bench_pk".into(),
        skip_load: false,
        json: true,
    };
    let correct = rigel::bench_pk::run(args).await.expect("benchmark runs");
    assert!(
        correct,
        "the table or a lookup answer was wrong (see the JSON above)"
    );
}

/// TPC-H SF0.01, all 22 queries once, every answer checked against DataFusion.
pub(crate) fn sf001_checked(
    work_dir: std::path::PathBuf,
    endpoint: rigel::bench::Endpoint,
) -> rigel::bench::TpchArgs {
    rigel::bench::TpchArgs {
        sf: 0.01,
        tbl_dir: None,
        work_dir,
        endpoint,
        database: "tpch".into(),
        queries: "1-22".into(),
        runs: 1,
        warmup: 0,
        skip_load: false,
        no_analyze: false,
        verify: "datafusion".into(),
        json: true,
        set: vec![],
    }
}

/// No `--host`: the benchmark starts an embedded server.
fn embedded() -> rigel::bench::Endpoint {
    rigel::bench::Endpoint {
        host: None,
        port: 9030,
        http_port: 8030,
        user: "root".into(),
        password: String::new(),
        cluster: None,
    }
}
