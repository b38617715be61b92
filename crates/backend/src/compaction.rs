//! Compaction: rowsets of a tablet merged into one.
//!
//! The inputs are read in the order they were written and written through the table's
//! segment writer, so AGGREGATE and UNIQUE KEY tables merge equal keys exactly as readers
//! would. The output becomes visible at the newest input's version, in place of the
//! inputs, in one metadata commit: readers of any version see the same rows before and
//! after. Replaced rowsets stay readable (for queries on older snapshots) until swept.
//!
//! PRIMARY KEY tablets (the caller holds the tablet's write lock, so no publish runs
//! meanwhile) read the inputs at the newest version without their deleted rows; the output
//! becomes visible at that version and the index moves to its rows.

use std::sync::Arc;

use futures::StreamExt;
use rigel_be_api::{CompactRequest, CompactSummary, CompactionKind};
use rigel_common::SqlError;
use rigel_common::ids::TxnId;
use rigel_storage::{RowsetMeta, StorageEngine};

use crate::scan::read_rowsets;
use crate::{segment_options, storage_error};

/// Rowsets this large are left to base compaction.
const CUMULATIVE_MAX_BYTES: u64 = 64 << 20;

/// The inputs of a compaction: consecutive current rowsets, oldest first.
fn pick(current: &[Arc<RowsetMeta>], req: &CompactRequest) -> Vec<Arc<RowsetMeta>> {
    match req.kind {
        CompactionKind::Base if current.len() >= 2 => current.to_vec(),
        CompactionKind::Base => vec![],
        CompactionKind::Cumulative => {
            let small = current
                .iter()
                .rev()
                .take_while(|r| r.bytes < CUMULATIVE_MAX_BYTES)
                .count();
            let run = &current[current.len() - small..];
            let run = &run[..run.len().min(req.max_rowsets.max(2))];
            if run.len() >= req.min_rowsets.max(2) {
                run.to_vec()
            } else {
                vec![]
            }
        }
    }
}

pub(crate) async fn compact(
    engine: Arc<StorageEngine>,
    req: CompactRequest,
) -> Result<CompactSummary, SqlError> {
    let primary = !req.target.primary_key.is_empty();
    let read_at = engine
        .max_version(req.tablet)
        .map_err(|e| storage_error(&e))?;
    let snapshot = engine
        .read_snapshot(req.tablet, read_at)
        .map_err(|e| storage_error(&e))?;
    let current: Vec<Arc<RowsetMeta>> = snapshot
        .rowsets
        .iter()
        .filter(|r| r.is_current())
        .cloned()
        .collect();
    let inputs = pick(&current, &req);
    if inputs.is_empty() {
        return Ok(CompactSummary::default());
    }
    let schema = Arc::clone(&req.target.schema);
    let options = segment_options(&req.target);
    let deletes = primary.then_some(&snapshot);
    let mut stream = read_rowsets(&engine, Arc::clone(&schema), req.tablet, &inputs, deletes)?;
    // Not a transaction: the output is published by commit_compaction.
    let mut writer = engine
        .rowset_writer(TxnId(0), req.tablet, schema, options)
        .map_err(|e| storage_error(&e))?;
    let mut rows_in = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| SqlError::internal(e.to_string()))?;
        rows_in += batch.num_rows() as u64;
        writer.write(batch).map_err(|e| storage_error(&e))?;
    }
    let output = writer
        .finish_replacing(inputs.iter().map(|r| r.rowset_id).collect())
        .map_err(|e| storage_error(&e))?;
    let summary = CompactSummary {
        inputs: inputs.len(),
        rows_in,
        rows_out: output.rows,
        bytes_out: output.bytes,
    };
    let committed = engine
        .commit_compaction(output, primary.then_some(read_at))
        .map_err(|e| storage_error(&e))?;
    // Not committed: a DELETE rewrote the tablet meanwhile and the output was dropped.
    Ok(if committed {
        summary
    } else {
        CompactSummary::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigel_common::ids::{RowsetId, TabletId};

    fn rowset(id: u64, bytes: u64) -> Arc<RowsetMeta> {
        Arc::new(RowsetMeta {
            rowset_id: RowsetId(id),
            tablet_id: TabletId(1),
            txn_id: TxnId(id),
            version: Some(id + 1),
            segments: vec![],
            rows: 1,
            bytes,
            created_ms: 0,
            replaces: vec![],
            stale_from: None,
            stale_since_ms: None,
            update: None,
        })
    }

    #[test]
    fn cumulative_takes_the_newest_small_run_and_base_everything() {
        let target = Arc::new(rigel_be_api::WriteTarget {
            table_id: rigel_common::ids::TableId(1),
            table_name: "t".into(),
            schema: Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            partition_columns: vec![],
            partitions: vec![],
            buckets: rigel_be_api::BucketRouting::Random,
            sort_key: vec![],
            compression: rigel_be_api::SegmentCompression::Lz4,
            bloom_filter_columns: vec![],
            memory_limit: 0,
            merge: None,
            primary_key: vec![],
            update: None,
        });
        let req = |kind, min, max| CompactRequest {
            target: Arc::clone(&target),
            tablet: TabletId(1),
            kind,
            min_rowsets: min,
            max_rowsets: max,
        };
        let big = CUMULATIVE_MAX_BYTES;
        let current = vec![rowset(1, big), rowset(2, 10), rowset(3, 10), rowset(4, 10)];
        let ids = |v: Vec<Arc<RowsetMeta>>| v.iter().map(|r| r.rowset_id.0).collect::<Vec<_>>();
        assert_eq!(
            ids(pick(&current, &req(CompactionKind::Cumulative, 3, 100))),
            [2, 3, 4]
        );
        assert_eq!(
            ids(pick(&current, &req(CompactionKind::Cumulative, 2, 2))),
            [2, 3]
        );
        assert!(pick(&current, &req(CompactionKind::Cumulative, 4, 100)).is_empty());
        assert_eq!(
            ids(pick(&current, &req(CompactionKind::Base, 0, 0))),
            [1, 2, 3, 4]
        );
        assert!(pick(&current[..1], &req(CompactionKind::Base, 0, 0)).is_empty());
    }
}
