//! Colocated joins: two tables bucketed alike, joined on their distribution column, are read
//! bucket by bucket with no exchange between the scans and the join; on a cluster each task
//! of that stage runs on a backend holding its buckets. (The answers, with and without
//! `disable_colocate_join`, are checked by slt/query/colocate.slt on both.)

use mysql_async::prelude::Queryable;

use crate::common::cluster::TestCluster;
use crate::common::{TestServer, exec};

const JOIN: &str = "SELECT count(*), sum(ca.v), sum(cb.w) FROM d.ca ca JOIN d.cb cb ON ca.k = cb.k";

/// Two tables of a few MB, so the planner joins them partitioned rather than by broadcast,
/// and a third with another bucket count.
async fn create(c: &mut mysql_async::Conn) {
    exec(c, "CREATE DATABASE d").await;
    for (table, buckets, k) in [
        ("ca", 4, "value"),
        ("cb", 4, "value * 2"),
        ("cd", 3, "value"),
    ] {
        exec(
            c,
            &format!(
                "CREATE TABLE d.{table} (k BIGINT NOT NULL, s VARCHAR(70), v INT, w INT) \
                 DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS {buckets}"
            ),
        )
        .await;
        exec(
            c,
            &format!(
                "INSERT INTO d.{table} SELECT {k}, concat(md5(cast(value AS VARCHAR)), \
                 md5(cast(value + 1 AS VARCHAR))), value % 97, value % 89 \
                 FROM generate_series(1, 60000)"
            ),
        )
        .await;
    }
}

async fn explain(c: &mut mysql_async::Conn, sql: &str) -> String {
    let lines: Vec<String> = c.query(format!("EXPLAIN {sql}")).await.unwrap();
    lines.join("\n")
}

async fn answer(c: &mut mysql_async::Conn) -> (i64, i64, i64) {
    c.query_first(JOIN).await.unwrap().unwrap()
}

/// The lines of the plan from the partitioned join down to its leaves.
fn below_join(plan: &str) -> Vec<&str> {
    let mut lines = plan
        .lines()
        .skip_while(|l| !l.contains("HashJoinExec: mode=Partitioned"));
    let Some(join) = lines.next() else {
        panic!("no partitioned join in {plan}");
    };
    let depth = join.len() - join.trim_start().len();
    lines
        .take_while(|l| l.len() - l.trim_start().len() > depth)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colocated_joins_read_buckets_in_place_on_a_server() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    create(&mut c).await;
    let expected = (30000, 1439460, 1319720);

    let plan = explain(&mut c, JOIN).await;
    let below = below_join(&plan);
    assert_eq!(
        below.iter().filter(|l| l.contains("by bucket")).count(),
        2,
        "{plan}"
    );
    assert!(
        !below.iter().any(|l| l.contains("RepartitionExec")),
        "{plan}"
    );
    assert_eq!(answer(&mut c).await, expected);

    // A side joined first with a small table (broadcast) is colocated through that join.
    exec(
        &mut c,
        "CREATE TABLE d.small (id INT NOT NULL, v INT) DUPLICATE KEY(id) \
         DISTRIBUTED BY HASH(id) BUCKETS 1",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO d.small SELECT value, value % 97 FROM generate_series(1, 300)",
    )
    .await;
    for t in ["small", "ca", "cb"] {
        exec(&mut c, &format!("ANALYZE TABLE d.{t}")).await;
    }
    let plan = explain(
        &mut c,
        "SELECT count(*), max(cb.s) FROM d.small s JOIN d.ca ca ON s.v = ca.v \
         JOIN d.cb cb ON ca.k = cb.k",
    )
    .await;
    let below = below_join(&plan);
    assert!(
        below.iter().any(|l| l.contains("mode=CollectLeft")),
        "{plan}"
    );
    assert_eq!(
        below.iter().filter(|l| l.contains("by bucket")).count(),
        2,
        "{plan}"
    );
    assert!(
        !below.iter().any(|l| l.contains("RepartitionExec")),
        "{plan}"
    );

    // An aggregate grouped by the distribution column: one step per bucket, no exchange.
    let plan = explain(&mut c, "SELECT k, count(*) FROM d.ca GROUP BY k").await;
    assert!(plan.contains("mode=SinglePartitioned"), "{plan}");
    assert!(plan.contains("by bucket"), "{plan}");
    assert!(!plan.contains("RepartitionExec"), "{plan}");
    let groups: (i64, i64) = c
        .query_first(
            "SELECT count(*), sum(n) FROM (SELECT k, count(*) AS n FROM d.cb GROUP BY k) g",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(groups, (60000, 60000));

    // Another bucket count: the rows are exchanged.
    let plan = explain(
        &mut c,
        "SELECT count(*) FROM d.ca ca JOIN d.cd cd ON ca.k = cd.k",
    )
    .await;
    assert!(!plan.contains("by bucket"), "{plan}");
    assert!(
        plan.contains("RepartitionExec: partitioning=Hash"),
        "{plan}"
    );

    // StarRocks' session variable turns it off.
    exec(&mut c, "SET disable_colocate_join = true").await;
    let plan = explain(&mut c, JOIN).await;
    assert!(!plan.contains("by bucket"), "{plan}");
    assert!(
        below_join(&plan)
            .iter()
            .any(|l| l.contains("RepartitionExec")),
        "{plan}"
    );
    assert_eq!(answer(&mut c).await, expected);
    server.stop().await;
}

/// The backend of each tablet of `table`, in bucket order.
async fn placement(c: &mut mysql_async::Conn, table: &str) -> Vec<String> {
    let rows: Vec<mysql_async::Row> = c.query(format!("SHOW TABLET FROM {table}")).await.unwrap();
    rows.iter()
        .map(|r| r.get::<String, _>("BackendId").unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colocated_joins_run_where_the_buckets_are_on_a_cluster() {
    let cluster = TestCluster::start(2).await;
    let mut c = cluster.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    // A colocation group keeps bucket b of both tables on one backend, whatever the
    // balance says: a one-tablet table in between makes the free placement of cb differ.
    for (table, k, group) in [
        ("ca", "value", true),
        ("pad", "value", false),
        ("cb", "value * 2", true),
    ] {
        let buckets = if group { 4 } else { 1 };
        let properties = if group {
            " PROPERTIES (\"colocate_with\" = \"orders\")"
        } else {
            ""
        };
        exec(
            &mut c,
            &format!(
                "CREATE TABLE d.{table} (k BIGINT NOT NULL, s VARCHAR(70), v INT, w INT) \
                 DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS {buckets}{properties}"
            ),
        )
        .await;
        exec(
            &mut c,
            &format!(
                "INSERT INTO d.{table} SELECT {k}, concat(md5(cast(value AS VARCHAR)), \
                 md5(cast(value + 1 AS VARCHAR))), value % 97, value % 89 \
                 FROM generate_series(1, 60000)"
            ),
        )
        .await;
    }
    let ca = placement(&mut c, "d.ca").await;
    assert_eq!(ca, placement(&mut c, "d.cb").await);
    assert_eq!(
        ca.iter().collect::<std::collections::BTreeSet<_>>().len(),
        2,
        "{ca:?}"
    );
    // A table that does not fit the group is refused.
    let e = c
        .query_drop(
            "CREATE TABLE d.bad (k BIGINT NOT NULL) DUPLICATE KEY(k) \
             DISTRIBUTED BY HASH(k) BUCKETS 3 PROPERTIES (\"colocate_with\" = \"orders\")",
        )
        .await
        .unwrap_err();
    assert_eq!(crate::common::errno(&e), 1210, "{e}");

    // One stage holds the join and both scans; each task reads its buckets of both
    // tables on the backend holding them.
    let expected = (30000, 1439460, 1319720);
    let plan = explain(&mut c, JOIN).await;
    assert!(!plan.contains("NetworkShuffleExec"), "{plan}");
    for task in ["t0", "t1"] {
        let reads: Vec<&str> = plan
            .lines()
            .filter_map(|l| {
                l.trim_start_matches(['│', ' '])
                    .strip_prefix(&format!("{task}: "))
            })
            .map(|l| {
                l.split("backends=[")
                    .nth(1)
                    .and_then(|r| r.split(']').next())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(reads.len(), 2, "{plan}");
        assert_eq!(reads[0], reads[1], "{plan}");
        let backend = reads[0].split(':').next().unwrap_or_default();
        assert!(
            plan.contains(&format!("{task}->backend {backend}")),
            "{plan}"
        );
    }
    assert_eq!(answer(&mut c).await, expected);

    // Without it, both sides are shuffled, to the same answer.
    exec(&mut c, "SET disable_colocate_join = true").await;
    let plan = explain(&mut c, JOIN).await;
    assert!(plan.contains("NetworkShuffleExec"), "{plan}");
    assert_eq!(answer(&mut c).await, expected);
}
