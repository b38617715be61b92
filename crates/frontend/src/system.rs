//! Cluster views: SHOW FRONTENDS / BACKENDS, SHOW PROC, ADMIN SHOW REPLICA STATUS and their
//! information_schema counterparts (`frontends`, `backends`, `be_tablets`,
//! `partitions_meta`, `tablet_health`).
//!
//! `rigel server` is one frontend (the leader) and one backend in one process; the views
//! describe that node with its real ports, disks, memory and tablets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};

use datafusion::arrow::datatypes::DataType;
use datafusion::scalar::ScalarValue;
use rigel_be_api::TabletInfo;
use rigel_common::ids::{BackendId, TabletId};

use crate::result::{ResultBuilder, i, s};
use rigel_catalog::health::{Reports, TabletHealth};
use rigel_catalog::{CatalogState, Distribution, Partition, PartitionScheme, TableKind};
use rigel_cluster::BackendStatus;

/// Where this node listens and what it may use, for the system views.
#[derive(Debug)]
pub struct NodeInfo {
    /// Advertised host.
    pub host: String,
    /// MySQL port.
    pub query_port: AtomicU16,
    /// Frontend HTTP port.
    pub http_port: AtomicU16,
    /// Backend HTTP port.
    pub be_http_port: AtomicU16,
    /// Start time (ms).
    pub started_ms: i64,
    /// Tablet storage directory.
    pub storage_path: PathBuf,
    /// Process memory limit, bytes.
    pub mem_limit: u64,
    /// Statements running now.
    pub running: std::sync::atomic::AtomicUsize,
}

impl NodeInfo {
    fn port(p: &AtomicU16) -> i64 {
        i64::from(p.load(Ordering::Relaxed))
    }
}

fn time_text(ms: i64) -> ScalarValue {
    s(crate::show::ms_text(ms))
}

fn version() -> String {
    format!("{}-{}", rigel_common::PRODUCT, rigel_common::VERSION)
}

/// `SHOW FRONTENDS` (StarRocks' columns).
pub fn frontends(node: &NodeInfo, journal_id: u64) -> ResultBuilder {
    let mut b = ResultBuilder::new(&[
        ("Name", DataType::Utf8),
        ("IP", DataType::Utf8),
        ("EditLogPort", DataType::Int64),
        ("HttpPort", DataType::Int64),
        ("QueryPort", DataType::Int64),
        ("RpcPort", DataType::Int64),
        ("Role", DataType::Utf8),
        ("ClusterId", DataType::Int64),
        ("Join", DataType::Utf8),
        ("Alive", DataType::Utf8),
        ("ReplayedJournalId", DataType::Int64),
        ("LastHeartbeat", DataType::Utf8),
        ("IsHelper", DataType::Utf8),
        ("ErrMsg", DataType::Utf8),
        ("StartTime", DataType::Utf8),
        ("Version", DataType::Utf8),
    ]);
    b.row(vec![
        s(format!(
            "{}_{}_{}",
            node.host,
            NodeInfo::port(&node.query_port),
            node.started_ms
        )),
        s(node.host.clone()),
        i(0),
        i(NodeInfo::port(&node.http_port)),
        i(NodeInfo::port(&node.query_port)),
        i(0),
        s("LEADER"),
        i(1),
        s("true"),
        s("true"),
        i(journal_id),
        time_text(crate::now_ms()),
        s("true"),
        s(""),
        time_text(node.started_ms),
        s(version()),
    ]);
    b
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn pct_text(v: f64) -> String {
    format!("{v:.2} %")
}

/// `SHOW BACKENDS` (StarRocks' columns), from what the heartbeats found.
pub fn backends(node: &NodeInfo, statuses: &[(BackendId, BackendStatus)]) -> ResultBuilder {
    let mut b = ResultBuilder::new(&[
        ("BackendId", DataType::Int64),
        ("IP", DataType::Utf8),
        ("HeartbeatPort", DataType::Int64),
        ("BePort", DataType::Int64),
        ("HttpPort", DataType::Int64),
        ("BrpcPort", DataType::Int64),
        ("LastStartTime", DataType::Utf8),
        ("LastHeartbeat", DataType::Utf8),
        ("Alive", DataType::Utf8),
        ("SystemDecommissioned", DataType::Utf8),
        ("ClusterDecommissioned", DataType::Utf8),
        ("TabletNum", DataType::Int64),
        ("DataUsedCapacity", DataType::Utf8),
        ("AvailCapacity", DataType::Utf8),
        ("TotalCapacity", DataType::Utf8),
        ("UsedPct", DataType::Utf8),
        ("MaxDiskUsedPct", DataType::Utf8),
        ("ErrMsg", DataType::Utf8),
        ("Version", DataType::Utf8),
        ("Status", DataType::Utf8),
        ("DataTotalCapacity", DataType::Utf8),
        ("DataUsedPct", DataType::Utf8),
        ("CpuCores", DataType::Int64),
        ("MemLimit", DataType::Utf8),
        ("NumRunningQueries", DataType::Int64),
        ("MemUsedPct", DataType::Utf8),
        ("CpuUsedPct", DataType::Utf8),
    ]);
    let time_or_null = |ms: i64| {
        if ms > 0 {
            time_text(ms)
        } else {
            ScalarValue::Utf8(None)
        }
    };
    for (id, st) in statuses {
        let host = if st.host.is_empty() {
            node.host.clone()
        } else {
            st.host.clone()
        };
        let used = st.disk_total_bytes.saturating_sub(st.disk_available_bytes);
        let used_pct = pct(used, st.disk_total_bytes);
        let data_total = st.data_used_bytes + st.disk_available_bytes;
        b.row(vec![
            i(id.0),
            s(host),
            i(st.heartbeat_port),
            i(st.be_port),
            i(st.http_port),
            i(st.brpc_port),
            time_or_null(st.last_start_ms),
            time_or_null(st.last_heartbeat_ms),
            s(st.alive.to_string()),
            s("false"),
            s("false"),
            i(st.tablets),
            s(crate::show::human_bytes(st.data_used_bytes)),
            s(crate::show::human_bytes(st.disk_available_bytes)),
            s(crate::show::human_bytes(st.disk_total_bytes)),
            s(pct_text(used_pct)),
            s(pct_text(used_pct)),
            s(st.err_msg.clone()),
            s(st.version.clone()),
            s(r#"{"lastSuccessReportTabletsTime":"N/A"}"#),
            s(crate::show::human_bytes(data_total)),
            s(pct_text(pct(st.data_used_bytes, data_total))),
            i(st.cpu_cores),
            s(crate::show::human_bytes(st.mem_limit_bytes)),
            i(st.running_queries),
            s(pct_text(pct(st.mem_used_bytes, st.mem_limit_bytes))),
            s("0.0 %"),
        ]);
    }
    b
}

/// `information_schema.frontends` (Rigel extension: SHOW FRONTENDS as a table).
pub fn frontends_table(node: &NodeInfo, journal_id: u64) -> ResultBuilder {
    lower_columns(frontends(node, journal_id))
}

/// `information_schema.backends` (Rigel extension: SHOW BACKENDS as a table).
pub fn backends_table(node: &NodeInfo, statuses: &[(BackendId, BackendStatus)]) -> ResultBuilder {
    lower_columns(backends(node, statuses))
}

/// The same rows with snake_case column names (`BackendId` → `backend_id`).
fn lower_columns(b: ResultBuilder) -> ResultBuilder {
    b.renamed(|name| {
        let mut out = String::new();
        let chars: Vec<char> = name.chars().collect();
        for (k, c) in chars.iter().enumerate() {
            let boundary = k > 0
                && c.is_ascii_uppercase()
                && (chars[k - 1].is_ascii_lowercase()
                    || chars.get(k + 1).is_some_and(|n| n.is_ascii_lowercase()));
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    })
}

fn replication_num(properties: &std::collections::BTreeMap<String, String>) -> usize {
    properties
        .get("replication_num")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn by_id(tablets: &[TabletInfo]) -> HashMap<TabletId, &TabletInfo> {
    tablets.iter().map(|t| (t.meta.tablet_id, t)).collect()
}

/// What the live backends report holding: each replica's newest version.
pub fn reports(tablets: &[(BackendId, TabletInfo)]) -> Reports {
    tablets
        .iter()
        .map(|(b, t)| ((t.meta.tablet_id, *b), t.max_version))
        .collect()
}

/// Every tablet of every table with its health (`information_schema.tablet_health`, a Rigel
/// extension): `HEALTHY`, `REPLICA_MISSING`, `VERSION_INCOMPLETE`, `REDUNDANT` or `MISSING`
/// (see [`TabletHealth`]), the backend of its first replica and the lowest version a held
/// replica reports.
pub fn tablet_health(state: &CatalogState, tablets: &[(BackendId, TabletInfo)]) -> ResultBuilder {
    let reports = reports(tablets);
    let mut b = ResultBuilder::new(&[
        ("DB_NAME", DataType::Utf8),
        ("TABLE_NAME", DataType::Utf8),
        ("PARTITION_NAME", DataType::Utf8),
        ("TABLET_ID", DataType::Int64),
        ("BACKEND_ID", DataType::Int64),
        ("VISIBLE_VERSION", DataType::Int64),
        ("REPLICA_VERSION", DataType::Int64),
        ("REPLICATION_NUM", DataType::Int64),
        ("STATE", DataType::Utf8),
    ]);
    for db in state.databases.values() {
        for t in db.tables.values().filter_map(|id| state.tables.get(id)) {
            let TableKind::Olap(o) = &t.kind else {
                continue;
            };
            let replicas = replication_num(&o.properties);
            for p in &o.partitions {
                for (bucket, tid) in p.tablets.iter().enumerate() {
                    let version = p
                        .replicas_of(bucket)
                        .iter()
                        .filter_map(|r| reports.get(&(*tid, r.backend)).copied())
                        .min()
                        .unwrap_or(0);
                    b.row(vec![
                        s(db.name.clone()),
                        s(t.name.clone()),
                        s(p.name.clone()),
                        i(tid.0),
                        i(p.backend_of(bucket).0),
                        i(p.visible_version),
                        i(version),
                        i(replicas),
                        s(p.tablet_health(bucket, replicas, &reports).as_str()),
                    ]);
                }
            }
        }
    }
    b
}

/// `ADMIN SHOW REPLICA STATUS FROM t` (StarRocks' columns): one row per replica of the
/// tablets of `partitions`, `Status` as [`replica_status`](rigel_catalog::health::replica_status).
pub fn replica_status(
    partitions: &[&Partition],
    tablets: &[(BackendId, TabletInfo)],
) -> ResultBuilder {
    let reports = reports(tablets);
    let infos: HashMap<(TabletId, BackendId), &TabletInfo> = tablets
        .iter()
        .map(|(b, t)| ((t.meta.tablet_id, *b), t))
        .collect();
    let mut b = ResultBuilder::new(&[
        ("TabletId", DataType::Int64),
        ("ReplicaId", DataType::Int64),
        ("BackendId", DataType::Int64),
        ("Version", DataType::Int64),
        ("LastFailedVersion", DataType::Int64),
        ("LastSuccessVersion", DataType::Int64),
        ("CommittedVersion", DataType::Int64),
        ("SchemaHash", DataType::Int64),
        ("VersionNum", DataType::Int64),
        ("IsBad", DataType::Utf8),
        ("IsSetBadForce", DataType::Utf8),
        ("State", DataType::Utf8),
        ("Status", DataType::Utf8),
    ]);
    for p in partitions {
        for (bucket, tid) in p.tablets.iter().enumerate() {
            for r in p.replicas_of(bucket) {
                let info = infos.get(&(*tid, r.backend)).copied();
                let version = info.map_or(0, |x| x.max_version);
                let status = rigel_catalog::health::replica_status(*tid, &r, &reports);
                b.row(vec![
                    i(tid.0),
                    i(tid.0),
                    i(r.backend.0),
                    i(version),
                    i(r.missing_from.map_or(-1, |v| v as i64)),
                    i(version),
                    i(p.visible_version),
                    i(0),
                    i(info.map_or(0, |x| x.rowsets)),
                    s(if info.is_none() { "true" } else { "false" }),
                    s("false"),
                    s("NORMAL"),
                    s(status),
                ]);
            }
        }
    }
    b
}

/// `information_schema.be_tablets` (StarRocks' columns).
pub fn be_tablets(node: &NodeInfo, tablets: &[(BackendId, TabletInfo)]) -> ResultBuilder {
    let mut b = ResultBuilder::new(&[
        ("BE_ID", DataType::Int64),
        ("TABLE_ID", DataType::Int64),
        ("PARTITION_ID", DataType::Int64),
        ("TABLET_ID", DataType::Int64),
        ("NUM_VERSION", DataType::Int64),
        ("MAX_VERSION", DataType::Int64),
        ("MIN_VERSION", DataType::Int64),
        ("NUM_ROWSET", DataType::Int64),
        ("NUM_ROW", DataType::Int64),
        ("DATA_SIZE", DataType::Int64),
        ("INDEX_MEM", DataType::Int64),
        ("CREATE_TIME", DataType::Int64),
        ("STATE", DataType::Utf8),
        ("TYPE", DataType::Utf8),
        ("DATA_DIR", DataType::Utf8),
        ("SHARD_ID", DataType::Int64),
        ("SCHEMA_HASH", DataType::Int64),
    ]);
    let dir = node.storage_path.display().to_string();
    for (backend, t) in tablets {
        b.row(vec![
            i(backend.0),
            i(t.meta.table_id.0),
            i(t.meta.partition_id.0),
            i(t.meta.tablet_id.0),
            i(t.rowsets),
            i(t.max_version),
            i(0),
            i(t.rowsets),
            i(t.rows),
            i(t.bytes),
            i(0),
            i(t.meta.created_ms / 1000),
            s("RUNNING"),
            s(if t.meta.primary_key.is_empty() {
                "DUP_OR_AGG"
            } else {
                "PRIMARY"
            }),
            s(dir.clone()),
            i(0),
            i(0),
        ]);
    }
    b
}

/// `information_schema.partitions_meta` (StarRocks' columns, those that apply).
pub fn partitions_meta(state: &CatalogState, tablets: &[TabletInfo]) -> ResultBuilder {
    let infos = by_id(tablets);
    let mut b = ResultBuilder::new(&[
        ("DB_NAME", DataType::Utf8),
        ("TABLE_NAME", DataType::Utf8),
        ("PARTITION_NAME", DataType::Utf8),
        ("PARTITION_ID", DataType::Int64),
        ("COMPACT_VERSION", DataType::Int64),
        ("VISIBLE_VERSION", DataType::Int64),
        ("VISIBLE_VERSION_TIME", DataType::Utf8),
        ("NEXT_VERSION", DataType::Int64),
        ("PARTITION_KEY", DataType::Utf8),
        ("PARTITION_VALUE", DataType::Utf8),
        ("DISTRIBUTION_KEY", DataType::Utf8),
        ("BUCKETS", DataType::Int64),
        ("REPLICATION_NUM", DataType::Int64),
        ("STORAGE_MEDIUM", DataType::Utf8),
        ("IS_TEMP", DataType::Utf8),
        ("DATA_SIZE", DataType::Int64),
        ("ROW_COUNT", DataType::Int64),
        ("MAX_CS", DataType::Float64),
    ]);
    for db in state.databases.values() {
        for t in db.tables.values().filter_map(|id| state.tables.get(id)) {
            let TableKind::Olap(o) = &t.kind else {
                continue;
            };
            let key = match &o.partition_scheme {
                PartitionScheme::Range { columns } | PartitionScheme::List { columns } => {
                    columns.join(", ")
                }
                PartitionScheme::Unpartitioned => String::new(),
            };
            let (dist_key, buckets) = match &o.distribution {
                Distribution::Hash { columns, buckets } => (columns.join(", "), *buckets),
                Distribution::Random { buckets } => ("RANDOM".to_string(), *buckets),
            };
            for p in &o.partitions {
                let mine: Vec<&TabletInfo> = p
                    .tablets
                    .iter()
                    .filter_map(|t| infos.get(t).copied())
                    .collect();
                let value = match (&p.values, &p.lower, &p.upper) {
                    (Some(v), _, _) => crate::show::list_values_ddl(v),
                    (None, lower, upper) if !key.is_empty() => format!(
                        "[{}, {})",
                        lower.as_ref().map_or("MIN".into(), |l| l.join(", ")),
                        upper.as_ref().map_or("MAX".into(), |u| u.join(", "))
                    ),
                    _ => String::new(),
                };
                b.row(vec![
                    s(db.name.clone()),
                    s(t.name.clone()),
                    s(p.name.clone()),
                    i(p.id.0),
                    i(p.visible_version),
                    i(p.visible_version),
                    time_text(p.visible_version_time_ms),
                    i(p.visible_version + 1),
                    s(key.clone()),
                    s(value),
                    s(dist_key.clone()),
                    i(buckets),
                    i(replication_num(&o.properties)),
                    s(o.properties
                        .get("storage_medium")
                        .cloned()
                        .unwrap_or_else(|| "HDD".into())),
                    s("false"),
                    i(mine.iter().map(|t| t.bytes).sum::<u64>()),
                    i(mine.iter().map(|t| t.rows).sum::<u64>()),
                    ScalarValue::Float64(Some(
                        mine.iter().map(|t| t.rowsets).max().unwrap_or(0) as f64
                    )),
                ]);
            }
        }
    }
    b
}

/// `SHOW PROC '/dbs'`.
pub fn proc_dbs(state: &CatalogState) -> ResultBuilder {
    let mut b = ResultBuilder::new(&[
        ("DbId", DataType::Int64),
        ("DbName", DataType::Utf8),
        ("TableNum", DataType::Int64),
        ("Quota", DataType::Utf8),
        ("LastConsistencyCheckTime", DataType::Utf8),
        ("ReplicaQuota", DataType::Utf8),
    ]);
    for db in state.databases.values() {
        b.row(vec![
            i(db.id.0),
            s(db.name.clone()),
            i(db.tables.len()),
            s("8388608.000 TB"),
            s("NULL"),
            s("1073741824"),
        ]);
    }
    b
}

/// `SHOW PROC '/colocation_group'`: StarRocks' columns, a group named `<dbId>_<name>`.
pub fn proc_colocation_group(state: &CatalogState) -> ResultBuilder {
    let mut b = ResultBuilder::text(&[
        "GroupId",
        "GroupName",
        "TableIds",
        "BucketsNum",
        "ReplicationNum",
        "DistCols",
        "IsStable",
    ]);
    for g in state.colocate_groups() {
        let tables: Vec<String> = g.tables.iter().map(|t| t.0.to_string()).collect();
        let columns: Vec<String> = g
            .columns
            .iter()
            .map(|c| c.to_string().to_ascii_lowercase())
            .collect();
        b.row(vec![
            s(format!(
                "{}.{}",
                g.db.0,
                g.tables.first().map_or(0, |t| t.0)
            )),
            s(format!("{}_{}", g.db.0, g.name)),
            s(tables.join(", ")),
            s(g.buckets.to_string()),
            s(g.replication),
            s(columns.join(", ")),
            s(if g.stable { "true" } else { "false" }),
        ]);
    }
    b
}

/// `SHOW PROC '/statistic'`: tablets and replicas per database, with a total row.
pub fn proc_statistic(state: &CatalogState, tablets: &[(BackendId, TabletInfo)]) -> ResultBuilder {
    let reports = reports(tablets);
    let mut b = ResultBuilder::new(&[
        ("DbId", DataType::Utf8),
        ("DbName", DataType::Utf8),
        ("TableNum", DataType::Int64),
        ("PartitionNum", DataType::Int64),
        ("IndexNum", DataType::Int64),
        ("TabletNum", DataType::Int64),
        ("ReplicaNum", DataType::Int64),
        ("UnhealthyTabletNum", DataType::Int64),
        ("InconsistentTabletNum", DataType::Int64),
        ("CloningTabletNum", DataType::Int64),
        ("ErrorStateTabletNum", DataType::Int64),
    ]);
    let mut total = [0u64; 8];
    for db in state.databases.values() {
        let mut row = [0u64; 8];
        for t in db.tables.values().filter_map(|id| state.tables.get(id)) {
            let TableKind::Olap(o) = &t.kind else {
                continue;
            };
            let replicas = replication_num(&o.properties);
            row[0] += 1;
            row[2] += 1;
            for p in &o.partitions {
                row[1] += 1;
                for (bucket, tid) in p.tablets.iter().enumerate() {
                    row[3] += 1;
                    row[4] += p
                        .replicas_of(bucket)
                        .iter()
                        .filter(|r| reports.contains_key(&(*tid, r.backend)))
                        .count() as u64;
                    match p.tablet_health(bucket, replicas, &reports) {
                        TabletHealth::Healthy => {}
                        TabletHealth::Missing => {
                            row[5] += 1;
                            row[7] += 1;
                        }
                        _ => row[5] += 1,
                    }
                }
            }
        }
        for (t, r) in total.iter_mut().zip(row) {
            *t += r;
        }
        b.row(vec![
            s(db.id.0.to_string()),
            s(db.name.clone()),
            i(row[0]),
            i(row[1]),
            i(row[2]),
            i(row[3]),
            i(row[4]),
            i(row[5]),
            i(row[6]),
            i(0),
            i(row[7]),
        ]);
    }
    b.row(vec![
        s("Total"),
        s(state.databases.len().to_string()),
        i(total[0]),
        i(total[1]),
        i(total[2]),
        i(total[3]),
        i(total[4]),
        i(total[5]),
        i(total[6]),
        i(0),
        i(total[7]),
    ]);
    b
}
