//! SHOW statements about the cluster's replicas: `SHOW PROC`, `SHOW TABLET` and `ADMIN SHOW
//! REPLICA STATUS`.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::scalar::ScalarValue;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::{ShowFilter, TableName};

use crate::result::{ResultBuilder, i, s};
use crate::session::Session;

impl Session {
    /// `SHOW PROC '/…'`: the directories StarRocks operators use most.
    pub(super) async fn show_proc(&mut self, path: &str) -> Result<QueryResult, SqlError> {
        let node = &self.fe.env.node;
        match path.trim().trim_end_matches('/') {
            "" => {
                let mut b = ResultBuilder::text(&["name"]);
                for name in [
                    "backends",
                    "colocation_group",
                    "dbs",
                    "frontends",
                    "statistic",
                ] {
                    b.row(vec![s(name)]);
                }
                b.into_result()
            }
            "/frontends" => crate::system::frontends(node, self.journal_id()).into_result(),
            "/backends" => {
                crate::system::backends(node, &self.fe.backend_statuses().await).into_result()
            }
            "/dbs" => crate::system::proc_dbs(&self.fe.catalog().read()).into_result(),
            "/colocation_group" => {
                crate::system::proc_colocation_group(&self.fe.catalog().read()).into_result()
            }
            "/statistic" => {
                let tablets = self.fe.cluster().tablet_infos().await?;
                crate::system::proc_statistic(&self.fe.catalog().read(), &tablets).into_result()
            }
            other => Err(SqlError::new(
                ErrorCode::ER_NOT_SUPPORTED_YET,
                format!(
                    "SHOW PROC '{other}' is not supported; supported: /, /frontends, /backends, /colocation_group, /dbs, /statistic"
                ),
            )),
        }
    }

    /// `ADMIN SHOW REPLICA STATUS FROM t [PARTITION (…)] [WHERE …]`.
    pub(super) async fn show_replica_status(
        &mut self,
        table: TableName,
        partitions: Vec<String>,
        filter: Option<ShowFilter>,
    ) -> Result<QueryResult, SqlError> {
        let (_, t) = self.table_of(&table)?;
        let o = t
            .olap()
            .ok_or_else(|| SqlError::new(ErrorCode::ER_WRONG_OBJECT, "not a table"))?;
        for p in &partitions {
            if !o.partitions.iter().any(|x| x.name.eq_ignore_ascii_case(p)) {
                return Err(SqlError::new(
                    ErrorCode::ER_UNKNOWN_PARTITION,
                    format!("Unknown partition '{p}' in table '{}'", t.name),
                ));
            }
        }
        let chosen: Vec<&rigel_catalog::Partition> = o
            .partitions
            .iter()
            .filter(|p| {
                partitions.is_empty() || partitions.iter().any(|n| n.eq_ignore_ascii_case(&p.name))
            })
            .collect();
        let tablets = self.fe.cluster().tablet_infos().await?;
        let b = crate::system::replica_status(&chosen, &tablets);
        self.filtered(b, filter, 12).await
    }

    /// `SHOW TABLET FROM t`: one row per replica, with StarRocks' columns.
    pub(super) async fn show_tablets(&mut self, name: TableName) -> Result<QueryResult, SqlError> {
        let (_, t) = self.table_of(&name)?;
        let o = t
            .olap()
            .ok_or_else(|| SqlError::new(ErrorCode::ER_WRONG_OBJECT, "not a table"))?;
        // One row per replica (each tablet has one until replicas arrive), with
        // StarRocks' columns.
        let infos: HashMap<_, _> = self
            .fe
            .cluster()
            .tablet_infos()
            .await?
            .into_iter()
            .map(|(backend, i)| ((i.meta.tablet_id, backend), i))
            .collect();
        let http_ports: HashMap<_, _> = self
            .fe
            .backend_statuses()
            .await
            .into_iter()
            .map(|(id, st)| {
                let host = if st.host.is_empty() {
                    self.fe.env.node.host.clone()
                } else {
                    st.host
                };
                (id, rigel_common::host::join_host_port(&host, st.http_port))
            })
            .collect();
        let mut b = ResultBuilder::new(&[
            ("TabletId", DataType::Int64),
            ("ReplicaId", DataType::Int64),
            ("BackendId", DataType::Int64),
            ("SchemaHash", DataType::Int64),
            ("Version", DataType::Int64),
            ("VersionHash", DataType::Int64),
            ("LstSuccessVersion", DataType::Int64),
            ("LstSuccessVersionHash", DataType::Int64),
            ("LstFailedVersion", DataType::Int64),
            ("LstFailedVersionHash", DataType::Int64),
            ("LstFailedTime", DataType::Utf8),
            ("DataSize", DataType::Int64),
            ("RowCount", DataType::Int64),
            ("State", DataType::Utf8),
            ("LstConsistencyCheckTime", DataType::Utf8),
            ("CheckVersion", DataType::Int64),
            ("CheckVersionHash", DataType::Int64),
            ("VersionCount", DataType::Int64),
            ("PathHash", DataType::Int64),
            ("MetaUrl", DataType::Utf8),
            ("CompactionStatus", DataType::Utf8),
        ]);
        let null = || ScalarValue::Utf8(None);
        for p in &o.partitions {
            for (bucket, tid) in p.tablets.iter().enumerate() {
                for replica in p.replicas_of(bucket) {
                    let backend = replica.backend;
                    let info = infos.get(&(*tid, backend));
                    let failed = replica.missing_from.map_or(-1, |v| v as i64);
                    let http = http_ports.get(&backend).cloned().unwrap_or_default();
                    let version = info.map_or(0, |x| x.max_version);
                    b.row(vec![
                        i(tid.0),
                        i(tid.0),
                        i(backend.0),
                        i(0),
                        i(version),
                        i(0),
                        i(version),
                        i(0),
                        i(failed),
                        i(0),
                        null(),
                        i(info.map(|x| x.bytes).unwrap_or(0)),
                        i(info.map(|x| x.rows).unwrap_or(0)),
                        s(match (info, replica.missing_from) {
                            (None, _) => "MISSING",
                            (Some(_), Some(_)) => "VERSION_INCOMPLETE",
                            (Some(_), None) => "NORMAL",
                        }),
                        null(),
                        i(-1),
                        i(0),
                        i(info.map(|x| x.rowsets).unwrap_or(0)),
                        i(0),
                        s(format!("http://{http}/api/meta/header/{}", tid.0)),
                        s(format!(
                            "http://{http}/api/compaction/show?tablet_id={}",
                            tid.0
                        )),
                    ]);
                }
            }
        }
        b.into_result()
    }
}
