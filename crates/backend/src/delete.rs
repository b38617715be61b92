//! DELETE: tablets rewritten without the deleted rows.
//!
//! Each tablet with matching rows is read at the requested version (its segments in the
//! order they were written), filtered, and written as one new rowset of the transaction
//! that replaces every rowset visible at that version. Readers at older versions keep
//! seeing the old rowsets; the publish makes the new one visible and the old ones stale in
//! one metadata commit.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::create_physical_expr;
use futures::StreamExt;
use rigel_be_api::{DeleteRequest, DeleteSummary};
use rigel_common::SqlError;
use rigel_common::ids::TxnId;
use rigel_storage::StorageEngine;

use crate::scan::read_rowsets;
use crate::{segment_options, storage_error};

fn df(e: impl std::fmt::Display) -> SqlError {
    SqlError::internal(e.to_string())
}

pub(crate) async fn delete_rows(
    engine: Arc<StorageEngine>,
    txn: TxnId,
    req: DeleteRequest,
) -> Result<DeleteSummary, SqlError> {
    let schema = Arc::clone(&req.target.schema);
    let df_schema = DFSchema::try_from(schema.as_ref().clone()).map_err(df)?;
    // Rows stay unless the predicate is true (false and NULL keep them).
    let keep = Expr::IsNotTrue(Box::new(req.predicate.clone()));
    let keep = create_physical_expr(
        &keep,
        &df_schema,
        &ExecutionProps::new(),
        &Default::default(),
    )
    .map_err(|e| {
        SqlError::new(
            rigel_common::ErrorCode::ER_WRONG_ARGUMENTS,
            format!("the DELETE condition cannot be evaluated: {e}"),
        )
    })?;
    let options = segment_options(&req.target);
    let key = req
        .target
        .merge
        .as_ref()
        .map(|m| m.key())
        .unwrap_or_default();
    let mut summary = DeleteSummary::default();
    let mut prepared = vec![];
    // Held until the rowsets are pending: a compaction finishing in between would make
    // the rowsets read here stale and the rewrite fail.
    let mut guards = vec![];
    for &(tablet, version) in &req.tablets {
        guards.push(engine.begin_rewrite(tablet));
        let rowsets = engine
            .read_view(tablet, version)
            .map_err(|e| storage_error(&e))?;
        if rowsets.iter().all(|r| r.rows == 0) {
            continue;
        }
        // The segments in the order they were written, so that rows with equal keys of
        // AGGREGATE and UNIQUE KEY tables merge as readers merge them.
        let mut stream = read_rowsets(&engine, Arc::clone(&schema), tablet, &rowsets, None)?;
        let mut writer = engine
            .rowset_writer(txn, tablet, Arc::clone(&schema), options.clone())
            .map_err(|e| storage_error(&e))?;
        let mut deleted_rows = 0u64;
        // Rows with equal keys are one row to a reader: for those tables, count keys.
        let mut deleted_keys = match &req.target.merge {
            Some(_) => Some((
                RowConverter::new(
                    key.iter()
                        .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                        .collect(),
                )
                .map_err(df)?,
                HashSet::new(),
            )),
            None => None,
        };
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(df)?;
            let n = batch.num_rows();
            let mask = keep
                .evaluate(&batch)
                .and_then(|v| v.into_array(n))
                .map_err(df)?;
            let Some(mask) = mask.as_any().downcast_ref::<BooleanArray>() else {
                return Err(SqlError::new(
                    rigel_common::ErrorCode::ER_WRONG_ARGUMENTS,
                    "the DELETE condition is not a condition",
                ));
            };
            let kept = filter_record_batch(&batch, mask).map_err(df)?;
            deleted_rows += (n - kept.num_rows()) as u64;
            if let Some((converter, keys)) = &mut deleted_keys {
                let gone = datafusion::arrow::compute::not(mask).map_err(df)?;
                let gone = filter_record_batch(&batch, &gone).map_err(df)?;
                let columns: Vec<_> = key.iter().map(|&i| Arc::clone(gone.column(i))).collect();
                let rows = converter.convert_columns(&columns).map_err(df)?;
                keys.extend(rows.iter().map(|r| r.owned()));
            }
            writer.write(kept).map_err(|e| storage_error(&e))?;
        }
        let deleted = deleted_keys.map_or(deleted_rows, |(_, keys)| keys.len() as u64);
        if deleted == 0 {
            // Dropping the writer removes what it wrote.
            continue;
        }
        let rowset = writer
            .finish_replacing(rowsets.iter().map(|r| r.rowset_id).collect())
            .map_err(|e| storage_error(&e))?;
        prepared.push(rowset);
        summary.rows += deleted;
        summary.tablets.push(tablet);
    }
    if !prepared.is_empty() {
        engine
            .prepare_txn(txn, prepared)
            .map_err(|e| storage_error(&e))?;
    }
    drop(guards);
    Ok(summary)
}
