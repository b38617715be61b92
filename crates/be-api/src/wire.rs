//! Conversions between the interface's Rust values and their wire messages.
//!
//! Encoding never fails for values the interface builds itself, except where a nested
//! library encoding can refuse (an expression DataFusion cannot serialize); decoding fails
//! with [`ErrorCode::ER_BAD_MESSAGE`] on anything malformed, never panics.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::Statistics;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::scalar::ScalarValue;
use datafusion_proto::bytes::Serializeable;
use prost::Message;
use rigel_common::ids::{BackendId, PartitionId, TableId, TabletId};
use rigel_common::tablet::{MergeRule, SegmentCompression, UpdateRule, ValueMerge};
use rigel_common::{ErrorCode, SqlError};

use crate::pb;
use crate::types::*;

/// A malformed message.
pub fn bad_message(what: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        ErrorCode::ER_BAD_MESSAGE,
        format!("malformed message: {what}"),
    )
}

fn usize_of(v: u64, what: &str) -> Result<usize, SqlError> {
    usize::try_from(v).map_err(|_| bad_message(format!("{what} {v} is out of range")))
}

fn u32_of(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Encodes a schema (datafusion-proto `Schema`).
pub fn encode_schema(schema: &Schema) -> Result<Vec<u8>, SqlError> {
    let proto = datafusion_proto::protobuf::Schema::try_from(schema)
        .map_err(|e| SqlError::internal(format!("cannot encode a schema: {e}")))?;
    Ok(proto.encode_to_vec())
}

/// Decodes a schema.
pub fn decode_schema(bytes: &[u8]) -> Result<SchemaRef, SqlError> {
    let proto = datafusion_proto::protobuf::Schema::decode(bytes).map_err(bad_message)?;
    Schema::try_from(&proto)
        .map(Arc::new)
        .map_err(|e| bad_message(format!("schema: {e}")))
}

/// Encodes a scalar value (datafusion-proto `ScalarValue`).
pub fn encode_scalar(value: &ScalarValue) -> Result<Vec<u8>, SqlError> {
    let proto = datafusion_proto::protobuf::ScalarValue::try_from(value)
        .map_err(|e| SqlError::internal(format!("cannot encode the value {value}: {e}")))?;
    Ok(proto.encode_to_vec())
}

/// Decodes a scalar value.
pub fn decode_scalar(bytes: &[u8]) -> Result<ScalarValue, SqlError> {
    let proto = datafusion_proto::protobuf::ScalarValue::decode(bytes).map_err(bad_message)?;
    ScalarValue::try_from(&proto).map_err(|e| bad_message(format!("value: {e}")))
}

/// Encodes statistics (datafusion-proto `Statistics`).
pub fn encode_statistics(stats: &Statistics) -> Vec<u8> {
    datafusion_proto_common::protobuf_common::Statistics::from(stats).encode_to_vec()
}

/// Decodes statistics.
pub fn decode_statistics(bytes: &[u8]) -> Result<Statistics, SqlError> {
    let proto =
        datafusion_proto_common::protobuf_common::Statistics::decode(bytes).map_err(bad_message)?;
    Statistics::try_from(&proto).map_err(|e| bad_message(format!("statistics: {e}")))
}

/// Encodes a logical expression (datafusion-proto `LogicalExprNode`).
pub fn encode_expr(expr: &Expr) -> Result<Vec<u8>, SqlError> {
    expr.to_bytes()
        .map(|b| b.to_vec())
        .map_err(|e| SqlError::internal(format!("cannot encode the expression {expr}: {e}")))
}

/// Decodes a logical expression; its functions resolve in `ctx`.
pub fn decode_expr(bytes: &[u8], ctx: &TaskContext) -> Result<Expr, SqlError> {
    Expr::from_bytes_with_ctx(bytes, ctx).map_err(|e| bad_message(format!("expression: {e}")))
}

/// Encodes a record batch as an Arrow IPC stream.
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, SqlError> {
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, &batch.schema())
        .map_err(|e| SqlError::internal(format!("cannot encode rows: {e}")))?;
    writer
        .write(batch)
        .and_then(|_| writer.finish())
        .map_err(|e| SqlError::internal(format!("cannot encode rows: {e}")))?;
    drop(writer);
    Ok(buf)
}

/// Decodes the one record batch of an Arrow IPC stream.
pub fn decode_batch(bytes: &[u8]) -> Result<RecordBatch, SqlError> {
    let mut reader = StreamReader::try_new(bytes, None).map_err(bad_message)?;
    let schema = reader.schema();
    match reader.next() {
        Some(b) => b.map_err(bad_message),
        None => Ok(RecordBatch::new_empty(schema)),
    }
}

// ---------------------------------------------------------------------------------------
// Tablets

impl From<&TabletMeta> for pb::TabletMeta {
    fn from(m: &TabletMeta) -> Self {
        Self {
            tablet_id: m.tablet_id.0,
            table_id: m.table_id.0,
            partition_id: m.partition_id.0,
            created_ms: m.created_ms,
            primary_key: m.primary_key.clone(),
            persistent_index: m.persistent_index,
        }
    }
}

impl From<&pb::TabletMeta> for TabletMeta {
    fn from(m: &pb::TabletMeta) -> Self {
        Self {
            tablet_id: TabletId(m.tablet_id),
            table_id: TableId(m.table_id),
            partition_id: PartitionId(m.partition_id),
            created_ms: m.created_ms,
            primary_key: m.primary_key.clone(),
            persistent_index: m.persistent_index,
        }
    }
}

impl From<&TabletInfo> for pb::TabletInfo {
    fn from(i: &TabletInfo) -> Self {
        Self {
            meta: Some((&i.meta).into()),
            rowsets: i.rowsets as u64,
            rows: i.rows,
            bytes: i.bytes,
            max_version: i.max_version,
        }
    }
}

impl TryFrom<&pb::TabletInfo> for TabletInfo {
    type Error = SqlError;

    fn try_from(i: &pb::TabletInfo) -> Result<Self, SqlError> {
        Ok(Self {
            meta: i
                .meta
                .as_ref()
                .ok_or_else(|| bad_message("a tablet info without its tablet"))?
                .into(),
            rowsets: usize_of(i.rowsets, "rowset count")?,
            rows: i.rows,
            bytes: i.bytes,
            max_version: i.max_version,
        })
    }
}

impl From<&TabletScanStats> for pb::TabletScanStats {
    fn from(s: &TabletScanStats) -> Self {
        Self {
            tablet_id: s.tablet.0,
            rows: s.rows,
            bytes: s.bytes,
            files: s.files,
        }
    }
}

impl From<&pb::TabletScanStats> for TabletScanStats {
    fn from(s: &pb::TabletScanStats) -> Self {
        Self {
            tablet: TabletId(s.tablet_id),
            rows: s.rows,
            bytes: s.bytes,
            files: s.files,
        }
    }
}

/// Tablet versions on the wire.
pub fn tablet_versions(tablets: &[(TabletId, u64)]) -> Vec<pb::TabletVersion> {
    tablets
        .iter()
        .map(|(t, v)| pb::TabletVersion {
            tablet_id: t.0,
            version: *v,
        })
        .collect()
}

/// Tablet versions from the wire.
pub fn from_tablet_versions(tablets: &[pb::TabletVersion]) -> Vec<(TabletId, u64)> {
    tablets
        .iter()
        .map(|t| (TabletId(t.tablet_id), t.version))
        .collect()
}

/// A publish's versions from the wire.
pub fn version_map(tablets: &[pb::TabletVersion]) -> HashMap<TabletId, u64> {
    tablets
        .iter()
        .map(|t| (TabletId(t.tablet_id), t.version))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Writes

fn value_merge_to(m: ValueMerge) -> pb::ValueMerge {
    match m {
        ValueMerge::Key => pb::ValueMerge::Key,
        ValueMerge::Sum => pb::ValueMerge::Sum,
        ValueMerge::Max => pb::ValueMerge::Max,
        ValueMerge::Min => pb::ValueMerge::Min,
        ValueMerge::Replace => pb::ValueMerge::Replace,
        ValueMerge::ReplaceIfNotNull => pb::ValueMerge::ReplaceIfNotNull,
        ValueMerge::HllUnion => pb::ValueMerge::HllUnion,
        ValueMerge::BitmapUnion => pb::ValueMerge::BitmapUnion,
    }
}

fn value_merge_from(v: i32) -> Result<ValueMerge, SqlError> {
    Ok(
        match pb::ValueMerge::try_from(v).map_err(|_| bad_message(format!("merge kind {v}")))? {
            pb::ValueMerge::Key => ValueMerge::Key,
            pb::ValueMerge::Sum => ValueMerge::Sum,
            pb::ValueMerge::Max => ValueMerge::Max,
            pb::ValueMerge::Min => ValueMerge::Min,
            pb::ValueMerge::Replace => ValueMerge::Replace,
            pb::ValueMerge::ReplaceIfNotNull => ValueMerge::ReplaceIfNotNull,
            pb::ValueMerge::HllUnion => ValueMerge::HllUnion,
            pb::ValueMerge::BitmapUnion => ValueMerge::BitmapUnion,
        },
    )
}

fn tuple_to(values: &[ScalarValue]) -> Result<pb::Tuple, SqlError> {
    Ok(pb::Tuple {
        values: values.iter().map(encode_scalar).collect::<Result<_, _>>()?,
    })
}

fn tuple_from(t: &pb::Tuple) -> Result<Vec<ScalarValue>, SqlError> {
    t.values.iter().map(|v| decode_scalar(v)).collect()
}

fn indexes_to(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&i| u32_of(i)).collect()
}

fn indexes_from(v: &[u32], columns: usize, what: &str) -> Result<Vec<usize>, SqlError> {
    v.iter()
        .map(|&i| {
            let i = i as usize;
            if i < columns {
                Ok(i)
            } else {
                Err(bad_message(format!(
                    "{what} names column {i} of a schema of {columns}"
                )))
            }
        })
        .collect()
}

impl From<&UpdateRule> for pb::UpdateRule {
    fn from(u: &UpdateRule) -> Self {
        Self {
            keep: u.keep.clone(),
            condition: u.condition,
            compression: u.compression.clone(),
            bloom_filter_columns: u.bloom_filter_columns.clone(),
        }
    }
}

impl From<&pb::UpdateRule> for UpdateRule {
    fn from(u: &pb::UpdateRule) -> Self {
        Self {
            keep: u.keep.clone(),
            condition: u.condition,
            compression: u.compression.clone(),
            bloom_filter_columns: u.bloom_filter_columns.clone(),
        }
    }
}

impl TryFrom<&PartitionRoute> for pb::PartitionRoute {
    type Error = SqlError;

    fn try_from(p: &PartitionRoute) -> Result<Self, SqlError> {
        Ok(Self {
            partition_id: p.partition_id.0,
            name: p.name.clone(),
            lower: p.lower.as_deref().map(tuple_to).transpose()?,
            upper: p.upper.as_deref().map(tuple_to).transpose()?,
            is_list: p.values.is_some(),
            values: p
                .values
                .iter()
                .flatten()
                .map(|t| tuple_to(t))
                .collect::<Result<_, _>>()?,
            tablets: p.tablets.iter().map(|t| t.0).collect(),
            backends: p.replicas.iter().flatten().map(|b| b.0).collect(),
            replicas: p
                .replicas
                .iter()
                .map(|r| u32::try_from(r.len()).unwrap_or(u32::MAX))
                .collect(),
            needed: p
                .needed
                .iter()
                .map(|&n| u32::try_from(n).unwrap_or(u32::MAX))
                .collect(),
        })
    }
}

impl TryFrom<&pb::PartitionRoute> for PartitionRoute {
    type Error = SqlError;

    fn try_from(p: &pb::PartitionRoute) -> Result<Self, SqlError> {
        let counts: Vec<usize> = if p.replicas.is_empty() {
            vec![1; p.tablets.len()]
        } else {
            p.replicas.iter().map(|&n| n as usize).collect()
        };
        let total = counts.iter().try_fold(0usize, |a, &n| a.checked_add(n));
        if counts.len() != p.tablets.len() || total != Some(p.backends.len()) {
            return Err(bad_message(format!(
                "partition {} has {} tablets, {} replica counts and {} backends",
                p.name,
                p.tablets.len(),
                p.replicas.len(),
                p.backends.len()
            )));
        }
        if !p.needed.is_empty() && p.needed.len() != p.tablets.len() {
            return Err(bad_message(format!(
                "partition {} has {} tablets and {} quorums",
                p.name,
                p.tablets.len(),
                p.needed.len()
            )));
        }
        let mut backends = p.backends.iter().map(|&b| BackendId(b));
        let replicas = counts
            .iter()
            .map(|&n| backends.by_ref().take(n).collect())
            .collect();
        Ok(Self {
            partition_id: PartitionId(p.partition_id),
            name: p.name.clone(),
            lower: p.lower.as_ref().map(tuple_from).transpose()?,
            upper: p.upper.as_ref().map(tuple_from).transpose()?,
            values: if p.is_list {
                Some(p.values.iter().map(tuple_from).collect::<Result<_, _>>()?)
            } else {
                None
            },
            tablets: p.tablets.iter().map(|&t| TabletId(t)).collect(),
            replicas,
            needed: p.needed.iter().map(|&n| n as usize).collect(),
        })
    }
}

impl TryFrom<&WriteTarget> for pb::WriteTarget {
    type Error = SqlError;

    fn try_from(t: &WriteTarget) -> Result<Self, SqlError> {
        let (hash_columns, random_buckets) = match &t.buckets {
            BucketRouting::Hash(c) => (indexes_to(c), false),
            BucketRouting::Random => (vec![], true),
        };
        Ok(Self {
            table_id: t.table_id.0,
            table_name: t.table_name.clone(),
            schema: encode_schema(&t.schema)?,
            partition_columns: indexes_to(&t.partition_columns),
            partitions: t
                .partitions
                .iter()
                .map(pb::PartitionRoute::try_from)
                .collect::<Result<_, _>>()?,
            hash_columns,
            random_buckets,
            sort_key: indexes_to(&t.sort_key),
            compression: t.compression.as_str(),
            bloom_filter_columns: t.bloom_filter_columns.clone(),
            memory_limit: t.memory_limit as u64,
            merge: t.merge.as_ref().map(|m| pb::MergeRule {
                columns: m
                    .columns
                    .iter()
                    .map(|&c| value_merge_to(c) as i32)
                    .collect(),
            }),
            primary_key: indexes_to(&t.primary_key),
            update: t.update.as_ref().map(Into::into),
        })
    }
}

impl TryFrom<&pb::WriteTarget> for WriteTarget {
    type Error = SqlError;

    fn try_from(t: &pb::WriteTarget) -> Result<Self, SqlError> {
        let schema = decode_schema(&t.schema)?;
        let n = schema.fields().len();
        let merge = t
            .merge
            .as_ref()
            .map(|m| {
                let columns = m
                    .columns
                    .iter()
                    .map(|&c| value_merge_from(c))
                    .collect::<Result<Vec<_>, _>>()?;
                if columns.len() != n {
                    return Err(bad_message(format!(
                        "a merge rule of {} columns for a schema of {n}",
                        columns.len()
                    )));
                }
                Ok(MergeRule { columns })
            })
            .transpose()?;
        Ok(Self {
            table_id: TableId(t.table_id),
            table_name: t.table_name.clone(),
            partition_columns: indexes_from(&t.partition_columns, n, "the partitioning")?,
            partitions: t
                .partitions
                .iter()
                .map(PartitionRoute::try_from)
                .collect::<Result<_, _>>()?,
            buckets: if t.random_buckets {
                BucketRouting::Random
            } else {
                BucketRouting::Hash(indexes_from(&t.hash_columns, n, "the distribution")?)
            },
            sort_key: indexes_from(&t.sort_key, n, "the sort key")?,
            compression: SegmentCompression::parse(&t.compression)
                .ok_or_else(|| bad_message(format!("compression '{}'", t.compression)))?,
            bloom_filter_columns: t.bloom_filter_columns.clone(),
            memory_limit: usize_of(t.memory_limit, "memory limit")?,
            merge,
            primary_key: indexes_from(&t.primary_key, n, "the primary key")?,
            update: t.update.as_ref().map(Into::into),
            schema,
        })
    }
}

impl From<&SinkSummary> for pb::WriteSummary {
    fn from(s: &SinkSummary) -> Self {
        Self {
            rows: s.rows,
            bytes: s.bytes,
            tablets: s.tablets.iter().map(|t| t.0).collect(),
            failed_backends: s.failed.iter().map(|b| b.0).collect(),
        }
    }
}

impl From<&pb::WriteSummary> for SinkSummary {
    fn from(s: &pb::WriteSummary) -> Self {
        Self {
            rows: s.rows,
            bytes: s.bytes,
            tablets: s.tablets.iter().map(|&t| TabletId(t)).collect(),
            failed: s.failed_backends.iter().map(|&b| BackendId(b)).collect(),
        }
    }
}

impl From<&DeleteSummary> for pb::DeleteRowsResponse {
    fn from(s: &DeleteSummary) -> Self {
        Self {
            rows: s.rows,
            tablets: s.tablets.iter().map(|t| t.0).collect(),
        }
    }
}

impl From<&pb::DeleteRowsResponse> for DeleteSummary {
    fn from(s: &pb::DeleteRowsResponse) -> Self {
        Self {
            rows: s.rows,
            tablets: s.tablets.iter().map(|&t| TabletId(t)).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Maintenance

/// The wire form of a compaction kind.
pub fn compaction_kind_to_wire(kind: CompactionKind) -> i32 {
    let kind = match kind {
        CompactionKind::Cumulative => pb::CompactionKind::Cumulative,
        CompactionKind::Base => pb::CompactionKind::Base,
    };
    kind as i32
}

/// A compaction kind from the wire.
pub fn compaction_kind(kind: i32) -> Result<CompactionKind, SqlError> {
    match pb::CompactionKind::try_from(kind)
        .map_err(|_| bad_message(format!("compaction kind {kind}")))?
    {
        pb::CompactionKind::Cumulative => Ok(CompactionKind::Cumulative),
        pb::CompactionKind::Base => Ok(CompactionKind::Base),
    }
}

impl TryFrom<&CompactRequest> for pb::CompactRequest {
    type Error = SqlError;

    fn try_from(r: &CompactRequest) -> Result<Self, SqlError> {
        Ok(Self {
            target: Some(r.target.as_ref().try_into()?),
            tablet_id: r.tablet.0,
            kind: compaction_kind_to_wire(r.kind),
            min_rowsets: r.min_rowsets as u64,
            max_rowsets: r.max_rowsets as u64,
        })
    }
}

impl TryFrom<&pb::CompactRequest> for CompactRequest {
    type Error = SqlError;

    fn try_from(r: &pb::CompactRequest) -> Result<Self, SqlError> {
        let target = r
            .target
            .as_ref()
            .ok_or_else(|| bad_message("a compaction without its target"))?;
        Ok(Self {
            target: Arc::new(target.try_into()?),
            tablet: TabletId(r.tablet_id),
            kind: compaction_kind(r.kind)?,
            min_rowsets: usize_of(r.min_rowsets, "rowset count")?,
            max_rowsets: usize_of(r.max_rowsets, "rowset count")?,
        })
    }
}

impl From<&CompactSummary> for pb::CompactResponse {
    fn from(s: &CompactSummary) -> Self {
        Self {
            inputs: s.inputs as u64,
            rows_in: s.rows_in,
            rows_out: s.rows_out,
            bytes_out: s.bytes_out,
        }
    }
}

impl TryFrom<&pb::CompactResponse> for CompactSummary {
    type Error = SqlError;

    fn try_from(s: &pb::CompactResponse) -> Result<Self, SqlError> {
        Ok(Self {
            inputs: usize_of(s.inputs, "rowset count")?,
            rows_in: s.rows_in,
            rows_out: s.rows_out,
            bytes_out: s.bytes_out,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Lookups and deletes

impl TryFrom<&LookupRequest> for pb::LookupRequest {
    type Error = SqlError;

    fn try_from(r: &LookupRequest) -> Result<Self, SqlError> {
        let fields: Vec<_> = r
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                datafusion::arrow::datatypes::Field::new(
                    format!("k{i}"),
                    k.data_type().clone(),
                    true,
                )
            })
            .collect();
        let keys = RecordBatch::try_new(Arc::new(Schema::new(fields)), r.keys.clone())
            .map_err(SqlError::internal)?;
        Ok(Self {
            schema: encode_schema(&r.schema)?,
            tablet_id: r.tablet.0,
            keys: encode_batch(&keys)?,
            projection: indexes_to(&r.projection),
        })
    }
}

impl TryFrom<&pb::LookupRequest> for LookupRequest {
    type Error = SqlError;

    fn try_from(r: &pb::LookupRequest) -> Result<Self, SqlError> {
        let schema = decode_schema(&r.schema)?;
        let projection = indexes_from(&r.projection, schema.fields().len(), "the projection")?;
        Ok(Self {
            keys: decode_batch(&r.keys)?.columns().to_vec(),
            tablet: TabletId(r.tablet_id),
            projection,
            schema,
        })
    }
}

/// A delete's wire form.
pub fn delete_to_wire(
    txn: rigel_common::ids::TxnId,
    r: &DeleteRequest,
) -> Result<pb::DeleteRowsRequest, SqlError> {
    Ok(pb::DeleteRowsRequest {
        txn_id: txn.0,
        target: Some(r.target.as_ref().try_into()?),
        tablets: tablet_versions(&r.tablets),
        predicate: encode_expr(&r.predicate)?,
    })
}

/// A delete from its wire form; the predicate's functions resolve in `ctx`.
pub fn delete_from_wire(
    r: &pb::DeleteRowsRequest,
    ctx: &TaskContext,
) -> Result<DeleteRequest, SqlError> {
    let target = r
        .target
        .as_ref()
        .ok_or_else(|| bad_message("a delete without its target"))?;
    Ok(DeleteRequest {
        target: Arc::new(target.try_into()?),
        tablets: from_tablet_versions(&r.tablets),
        predicate: decode_expr(&r.predicate, ctx)?,
    })
}

// ---------------------------------------------------------------------------------------
// Backup and restore

impl From<&RepositorySpec> for pb::RepositorySpec {
    fn from(r: &RepositorySpec) -> Self {
        Self {
            location: r.location.clone(),
            properties: r.properties.clone().into_iter().collect(),
        }
    }
}

impl From<&pb::RepositorySpec> for RepositorySpec {
    fn from(r: &pb::RepositorySpec) -> Self {
        Self {
            location: r.location.clone(),
            properties: r.properties.clone().into_iter().collect(),
        }
    }
}

impl From<&TabletBackup> for pb::TabletBackup {
    fn from(t: &TabletBackup) -> Self {
        Self {
            tablet_id: t.tablet.0,
            version: t.version,
            rowsets: t
                .rowsets
                .iter()
                .map(|r| pb::RowsetBackup {
                    version: r.version,
                    segments: r
                        .segments
                        .iter()
                        .map(|(b, rows)| pb::SegmentBackup {
                            blob: Some(pb::BlobRef {
                                sha256: b.sha256.clone(),
                                size: b.size,
                            }),
                            rows: *rows,
                        })
                        .collect(),
                    deletes: r
                        .deletes
                        .iter()
                        .map(|(segment, rows)| pb::DeletedRows {
                            segment: *segment,
                            rows: rows.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl TryFrom<&pb::TabletBackup> for TabletBackup {
    type Error = SqlError;

    fn try_from(t: &pb::TabletBackup) -> Result<Self, SqlError> {
        let mut rowsets = vec![];
        for r in &t.rowsets {
            let mut segments = vec![];
            for s in &r.segments {
                let b = s
                    .blob
                    .as_ref()
                    .ok_or_else(|| bad_message("a segment backup without its file"))?;
                if b.sha256.len() != 64 || !b.sha256.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(bad_message(format!("checksum '{}'", b.sha256)));
                }
                segments.push((
                    BlobRef {
                        sha256: b.sha256.clone(),
                        size: b.size,
                    },
                    s.rows,
                ));
            }
            rowsets.push(RowsetBackup {
                version: r.version,
                segments,
                deletes: r
                    .deletes
                    .iter()
                    .map(|d| (d.segment, d.rows.clone()))
                    .collect(),
            });
        }
        Ok(Self {
            tablet: TabletId(t.tablet_id),
            version: t.version,
            rowsets,
        })
    }
}

/// Progress counters on the wire.
pub fn progress_of(t: &Transfer) -> pb::TransferProgress {
    use std::sync::atomic::Ordering::Relaxed;
    pb::TransferProgress {
        files_total: t.files_total.load(Relaxed),
        files_done: t.files_done.load(Relaxed),
        bytes_done: t.bytes_done.load(Relaxed),
        files_uploaded: t.files_uploaded.load(Relaxed),
        bytes_uploaded: t.bytes_uploaded.load(Relaxed),
    }
}

/// Copies received progress into local counters.
pub fn apply_progress(p: &pb::TransferProgress, t: &Transfer) {
    use std::sync::atomic::Ordering::Relaxed;
    t.files_total.store(p.files_total, Relaxed);
    t.files_done.store(p.files_done, Relaxed);
    t.bytes_done.store(p.bytes_done, Relaxed);
    t.files_uploaded.store(p.files_uploaded, Relaxed);
    t.bytes_uploaded.store(p.bytes_uploaded, Relaxed);
}

impl From<&BackupRequest> for pb::BackupRequest {
    fn from(r: &BackupRequest) -> Self {
        Self {
            job: r.job.clone(),
            repository: Some((&r.repository).into()),
            tablets: tablet_versions(&r.tablets),
            upload_all: r.upload_all,
        }
    }
}

impl TryFrom<&pb::BackupRequest> for BackupRequest {
    type Error = SqlError;

    fn try_from(r: &pb::BackupRequest) -> Result<Self, SqlError> {
        Ok(Self {
            job: r.job.clone(),
            repository: r
                .repository
                .as_ref()
                .ok_or_else(|| bad_message("a backup without its repository"))?
                .into(),
            tablets: from_tablet_versions(&r.tablets),
            upload_all: r.upload_all,
            transfer: Arc::default(),
        })
    }
}

impl From<&RestoreRequest> for pb::RestoreRequest {
    fn from(r: &RestoreRequest) -> Self {
        Self {
            job: r.job.clone(),
            repository: Some((&r.repository).into()),
            tablets: r
                .tablets
                .iter()
                .map(|(meta, backup)| pb::RestoreTablet {
                    meta: Some(meta.into()),
                    backup: Some(backup.into()),
                })
                .collect(),
        }
    }
}

impl TryFrom<&pb::RestoreRequest> for RestoreRequest {
    type Error = SqlError;

    fn try_from(r: &pb::RestoreRequest) -> Result<Self, SqlError> {
        let mut tablets = vec![];
        for t in &r.tablets {
            let meta = t
                .meta
                .as_ref()
                .ok_or_else(|| bad_message("a restored tablet without its metadata"))?;
            let backup = t
                .backup
                .as_ref()
                .ok_or_else(|| bad_message("a restored tablet without its backup"))?;
            tablets.push((meta.into(), backup.try_into()?));
        }
        Ok(Self {
            job: r.job.clone(),
            repository: r
                .repository
                .as_ref()
                .ok_or_else(|| bad_message("a restore without its repository"))?
                .into(),
            tablets,
            transfer: Arc::default(),
        })
    }
}
