//! Load transactions: id allocation, the write target of a table, commit and publish.
//!
//! Commit protocol: the backend has durably *prepared* the rowsets (sink finished); the
//! commit record (new partition versions) is appended to the journal — the transaction is
//! now committed and survives a crash; then the backend publishes it. A crash between the
//! two is repaired at start ([`crate::Frontend::open`] publishes committed transactions).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use rigel_be_api::{
    BucketRouting, MergeRule, OP_COLUMN, PartitionRoute, SegmentCompression, SinkSummary,
    TabletSink, ValueMerge, WriteQuorum, WriteTarget,
};
use rigel_common::ids::{BackendId, TabletId, TxnId};
use rigel_common::{ErrorCode, SqlError};
use rigel_sql::{AggType, KeysType};
use tracing::{error, warn};

use crate::Frontend;
use rigel_catalog::partition::routes_bounds;
use rigel_catalog::{CommitRecord, Distribution, JournalEntry, OlapTable, Table};

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// Committed and published: readers see it.
    Visible,
    /// Committed durably; publishing failed and is retried at the next start.
    Committed,
}

impl TxnStatus {
    /// StarRocks' name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TxnStatus::Visible => "VISIBLE",
            TxnStatus::Committed => "COMMITTED",
        }
    }
}

impl Frontend {
    /// Allocates a transaction id.
    pub(crate) async fn begin_txn(&self) -> Result<TxnId, SqlError> {
        let mut w = self.catalog().writer().await;
        let txn = TxnId(w.next_id()?);
        self.env.metrics.txn_begin.increment(1);
        Ok(txn)
    }

    /// Opens the sink of a write: rows routed to the backends of the target's tablets.
    pub(crate) async fn open_sink(
        &self,
        txn: TxnId,
        target: Arc<WriteTarget>,
    ) -> Result<Box<dyn TabletSink>, SqlError> {
        let cluster = self.cluster();
        let sink =
            rigel_exec::RoutingSink::open(txn, target, cluster.resolver(), cluster.placement())
                .await?;
        Ok(Box::new(sink))
    }

    /// Discards a transaction's data on the backend.
    pub(crate) async fn abort_txn(&self, txn: TxnId) {
        self.env.metrics.txn_failed.increment(1);
        if let Err(e) = self.cluster().abort(txn).await {
            warn!(%txn, "abort failed (files are removed at the next start): {e}");
        }
    }

    /// Commits a prepared transaction on one table and publishes it.
    pub(crate) async fn commit_txn(
        &self,
        txn: TxnId,
        table: &Table,
        label: String,
        summary: &SinkSummary,
    ) -> Result<TxnStatus, SqlError> {
        let mut w = self.catalog().writer().await;
        let current = w.read().tables.get(&table.id).cloned();
        let Some(current) = current else {
            drop(w);
            self.abort_txn(txn).await;
            return Err(SqlError::new(
                ErrorCode::ER_NO_SUCH_TABLE,
                format!("Table '{}' was dropped while loading", table.name),
            ));
        };
        let Some(olap) = current.olap() else {
            return Err(SqlError::internal("loaded table is not an OLAP table"));
        };
        let mut partitions = vec![];
        let mut tablets = vec![];
        // The replicas that prepared the write, to publish; those that did not (their
        // backend failed, or they were already incomplete and not written).
        let mut placed = vec![];
        let mut missed = vec![];
        for p in &olap.partitions {
            let mut written = false;
            let version = p.visible_version + 1;
            for (bucket, t) in p.tablets.iter().enumerate() {
                if !summary.tablets.contains(t) {
                    continue;
                }
                written = true;
                tablets.push((*t, version));
                for r in p.replicas_of(bucket) {
                    if r.is_complete() && !summary.failed.contains(&r.backend) {
                        placed.push((*t, version, r.backend));
                    } else {
                        missed.push((*t, r.backend));
                    }
                }
            }
            if written {
                partitions.push((p.id, version));
            }
        }
        if tablets.len() != summary.tablets.len() {
            drop(w);
            self.abort_txn(txn).await;
            return Err(SqlError::new(
                ErrorCode::ER_UNKNOWN_ERROR,
                format!(
                    "Partitions of table '{}' changed while loading; the load was rolled back",
                    table.name
                ),
            ));
        }
        let db_id = current.db_id;
        let record = CommitRecord {
            txn_id: txn,
            db_id,
            table_id: table.id,
            label,
            partitions,
            tablets: tablets.clone(),
            rows: summary.rows,
            commit_ms: crate::now_ms(),
            missed: missed.clone(),
        };
        let mut entries = vec![JournalEntry::CommitTxn(record)];
        // Once an hour, forget labels older than label_keep_max_second.
        let now = crate::now_ms();
        let last = self
            .labels_pruned_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if now - last > 3_600_000 {
            self.labels_pruned_ms
                .store(now, std::sync::atomic::Ordering::Relaxed);
            let keep_ms = self.config().label_keep_max_second as i64 * 1000;
            entries.push(JournalEntry::PruneLabels {
                before_ms: now - keep_ms,
            });
        }
        w.commit(entries)?;
        drop(w);
        self.env.metrics.txn_success.increment(1);
        // What the backends that failed prepared (if anything) is not the commit's.
        for b in &summary.failed {
            if let Ok(client) = self.cluster().backend(*b)
                && let Err(e) = client.abort(txn).await
            {
                warn!(%txn, backend = %b, "abort on a backend that missed the commit: {e}");
            }
        }
        match self.cluster().publish(txn, &placed).await {
            Ok(()) => Ok(TxnStatus::Visible),
            Err(e) => {
                error!(%txn, "publish failed; it is retried until every backend has: {e}");
                self.unpublished.lock().insert(txn, placed);
                Ok(TxnStatus::Committed)
            }
        }
    }

    /// Publishes again the committed transactions some backend has not published (a
    /// backend publishes a transaction once, so the others ignore the repeat).
    pub(crate) async fn retry_publishes(&self) {
        let pending: Vec<(TxnId, Vec<PlacedVersion>)> = self
            .unpublished
            .lock()
            .iter()
            .map(|(t, p)| (*t, p.clone()))
            .collect();
        for (txn, placed) in pending {
            // Only the backends that answer heartbeats; the others publish when they
            // rejoin (reconciliation), or here once they answer again.
            if !placed.iter().all(|(_, _, b)| self.cluster().is_alive(*b)) {
                continue;
            }
            match self.cluster().publish(txn, &placed).await {
                Ok(()) => {
                    self.unpublished.lock().remove(&txn);
                    tracing::info!(%txn, "published after a retry");
                }
                Err(e) => warn!(%txn, "publish retry failed: {e}"),
            }
        }
    }
}

/// A tablet, the version to publish it at, and the backend holding it.
pub(crate) type PlacedVersion = (TabletId, u64, BackendId);

/// Committed transactions waiting for a backend to publish them, with what each backend
/// must publish.
pub(crate) type Unpublished =
    parking_lot::Mutex<std::collections::BTreeMap<TxnId, Vec<PlacedVersion>>>;

/// The write target of a table; `only` limits the partitions rows may go to.
pub(crate) fn write_target(
    table: &Table,
    olap: &OlapTable,
    only: Option<&[String]>,
) -> Result<Arc<WriteTarget>, SqlError> {
    let mut schema = olap.arrow_schema();
    let primary_key: Vec<usize> = if olap.keys_type == KeysType::Primary {
        // Rows that delete carry only their key: value columns may hold NULLs there.
        let mut fields: Vec<FieldRef> = olap
            .columns
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                if c.is_key {
                    Arc::clone(f)
                } else {
                    Arc::new(f.as_ref().clone().with_nullable(true))
                }
            })
            .collect();
        fields.push(Arc::new(Field::new(OP_COLUMN, DataType::Int8, false)));
        schema = Arc::new(Schema::new(fields));
        olap.key_indexes()
    } else {
        vec![]
    };
    let bounds = routes_bounds(olap)?;
    let partition_columns = olap.partition_column_indexes();
    let quorum = olap
        .properties
        .get("write_quorum")
        .and_then(|q| WriteQuorum::parse(q))
        .unwrap_or_default();
    let mut partitions = vec![];
    for (i, p) in olap.partitions.iter().enumerate() {
        let selected =
            only.is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)));
        let (lower, upper, values) = match bounds.get(i) {
            Some(b) => (b.lower.clone(), b.upper.clone(), b.values.clone()),
            None => (None, None, None),
        };
        partitions.push(PartitionRoute {
            partition_id: p.id,
            name: p.name.clone(),
            lower,
            upper,
            values,
            // Rows routed to a partition outside `only` are rejected like rows of no
            // partition.
            tablets: if selected { p.tablets.clone() } else { vec![] },
            // Every complete replica; one that lacks a version gets no new ones until it
            // has caught up.
            replicas: if selected {
                (0..p.tablets.len())
                    .map(|b| {
                        p.replicas_of(b)
                            .iter()
                            .filter(|r| r.is_complete())
                            .map(|r| r.backend)
                            .collect()
                    })
                    .collect()
            } else {
                vec![]
            },
            // Counted over every replica, complete or not.
            needed: if selected {
                (0..p.tablets.len())
                    .map(|b| quorum.needed(p.replicas_of(b).len()))
                    .collect()
            } else {
                vec![]
            },
        });
    }
    let buckets = match &olap.distribution {
        Distribution::Hash { columns, .. } => BucketRouting::Hash(
            columns
                .iter()
                .filter_map(|c| olap.column_index(c))
                .collect(),
        ),
        Distribution::Random { .. } => BucketRouting::Random,
    };
    let compression = olap
        .properties
        .get("compression")
        .and_then(|c| SegmentCompression::parse(c))
        .unwrap_or(SegmentCompression::Lz4);
    let bloom_filter_columns = olap
        .properties
        .get("bloom_filter_columns")
        .map(|v| {
            v.split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(Arc::new(WriteTarget {
        table_id: table.id,
        table_name: table.name.clone(),
        schema,
        partition_columns,
        partitions,
        buckets,
        sort_key: olap.sort_key(),
        compression,
        bloom_filter_columns,
        memory_limit: 0,
        merge: merge_rule(olap)?,
        primary_key,
        update: None,
    }))
}

/// How rows with equal keys merge in AGGREGATE, UNIQUE and PRIMARY KEY tables; `None` for
/// DUPLICATE KEY tables.
pub(crate) fn merge_rule(olap: &OlapTable) -> Result<Option<MergeRule>, SqlError> {
    let last_wins = || {
        olap.columns.iter().map(|c| {
            if c.is_key {
                ValueMerge::Key
            } else {
                ValueMerge::Replace
            }
        })
    };
    let columns = match olap.keys_type {
        KeysType::Duplicate => return Ok(None),
        KeysType::Unique => last_wins().collect(),
        // The op column too: the last write of a key says whether it stays.
        KeysType::Primary => last_wins()
            .chain(std::iter::once(ValueMerge::Replace))
            .collect(),
        KeysType::Aggregate => {
            olap.columns
                .iter()
                .map(|c| match (c.is_key, c.agg) {
                    (true, _) => Ok(ValueMerge::Key),
                    (false, Some(AggType::Sum)) => Ok(ValueMerge::Sum),
                    (false, Some(AggType::Max)) => Ok(ValueMerge::Max),
                    (false, Some(AggType::Min)) => Ok(ValueMerge::Min),
                    (false, Some(AggType::Replace) | None) => Ok(ValueMerge::Replace),
                    (false, Some(AggType::ReplaceIfNotNull)) => Ok(ValueMerge::ReplaceIfNotNull),
                    (false, Some(AggType::HllUnion)) => Ok(ValueMerge::HllUnion),
                    (false, Some(AggType::BitmapUnion)) => Ok(ValueMerge::BitmapUnion),
                    (false, Some(AggType::PercentileUnion)) => Err(SqlError::not_supported(
                        format!("Writing to a PERCENTILE_UNION column ('{}')", c.name),
                    )),
                })
                .collect::<Result<_, _>>()?
        }
    };
    Ok(Some(MergeRule { columns }))
}
