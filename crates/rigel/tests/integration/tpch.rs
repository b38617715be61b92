//! TPC-H at a small scale factor: generate, Stream Load, run the 22 queries over the MySQL
//! protocol, and compare every answer with DataFusion run directly on the same files.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_22_queries_match_datafusion() {
    let dir = tempfile::tempdir().unwrap();
    let args = rigel::bench::TpchArgs {
        sf: 0.01,
        tbl_dir: None,
        work_dir: dir.path().to_path_buf(),
        host: None,
        port: 9030,
        http_port: 8030,
        user: "root".into(),
        password: String::new(),
        database: "tpch".into(),
        queries: "1-22".into(),
        runs: 1,
        warmup: 0,
        skip_load: false,
        no_analyze: false,
        verify: "datafusion".into(),
        json: true,
    };
    let all_correct = rigel::bench::run(args).await.expect("benchmark runs");
    assert!(
        all_correct,
        "some TPC-H answers differ from DataFusion's (see the JSON above)"
    );
}
