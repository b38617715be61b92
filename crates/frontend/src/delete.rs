//! `DELETE FROM t [PARTITION (p, …)] WHERE …`.
//!
//! DUPLICATE KEY tables take any condition; AGGREGATE and UNIQUE KEY tables a condition on
//! key columns only (as in StarRocks: value columns are merged values). PRIMARY KEY tables
//! take any condition and delete through their index (see `update.rs`). The backend
//! rewrites each tablet that holds matching rows without them, in one transaction: the
//! rows disappear at once, and queries running meanwhile keep their snapshot.

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::logical_expr::ExprSchemable;
use datafusion::logical_expr::sqlparser::ast::ExprWithAlias;
use datafusion::optimizer::simplify_expressions::{ExprSimplifier, SimplifyContext};
use rigel_be_api::{DeleteRequest, SinkSummary};
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::sqlparser::ast::{self, FromTable, TableFactor};
use rigel_sql::{KeysType, TableName};

use crate::error::df_error;
use crate::session::Session;
use crate::txn::write_target;
use rigel_catalog::partition::{prune_buckets, prune_partitions};

fn delete_error(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_NOT_SUPPORTED_YET, msg)
}

/// The one table of a DELETE and its PARTITION list (USING is checked by the caller).
fn target(d: &ast::Delete) -> Result<(TableName, Vec<String>), SqlError> {
    let from = match &d.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    if !d.tables.is_empty() || from.len() != 1 || !from[0].joins.is_empty() {
        return Err(delete_error(
            "DELETE from several tables or with USING/JOIN",
        ));
    }
    if d.returning.is_some() || !d.order_by.is_empty() || d.limit.is_some() {
        return Err(delete_error("DELETE with ORDER BY, LIMIT or RETURNING"));
    }
    let TableFactor::Table {
        name, partitions, ..
    } = &from[0].relation
    else {
        return Err(delete_error("DELETE from a subquery"));
    };
    let table =
        TableName::try_from(name).map_err(|e| SqlError::new(ErrorCode::ER_PARSE_ERROR, e))?;
    let partitions = partitions.iter().map(|p| p.value.clone()).collect();
    Ok((table, partitions))
}

impl Session {
    pub(crate) async fn delete(&mut self, d: ast::Delete) -> Result<QueryResult, SqlError> {
        let (name, only) = target(&d)?;
        let (db, table) = self.olap_table(&name, "DELETE")?;
        self.require(rigel_sql::Privilege::Delete, Some(&db), Some(&table.name))?;
        let Some(olap) = table.olap() else {
            return Err(SqlError::internal("not an OLAP table"));
        };
        let Some(selection) = d.selection.clone() else {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                "DELETE needs a WHERE clause; TRUNCATE TABLE empties a table",
            ));
        };
        if olap.keys_type == KeysType::Primary {
            let using = d.using.clone().unwrap_or_default();
            return self.delete_primary(&name, &only, &using, &selection).await;
        }
        if d.using.is_some() {
            return Err(delete_error(
                "DELETE … USING on a table that is not a PRIMARY KEY table",
            ));
        }
        for p in &only {
            if olap.partition(p).is_none() {
                return Err(SqlError::new(
                    ErrorCode::ER_UNKNOWN_PARTITION,
                    format!("Unknown partition '{p}' in table '{}'", table.name),
                ));
            }
        }
        // The condition, typed against the table's columns as stored.
        let schema = olap.arrow_schema();
        let df_schema = DFSchema::try_from(schema.as_ref().clone()).map_err(df_error)?;
        let (state, _) = self.fe.env.state(&self.view(), 0);
        let mut sql = selection;
        crate::planner::rewrite_mysql_expr(&mut sql);
        let logical = state
            .create_logical_expr_from_sql_expr(
                ExprWithAlias {
                    expr: sql,
                    alias: None,
                },
                &df_schema,
            )
            .map_err(df_error)?;
        let context = SimplifyContext::builder()
            .with_schema(Arc::new(df_schema.clone()))
            .with_current_time()
            .build();
        let simplifier = ExprSimplifier::new(context);
        let predicate = simplifier
            .coerce(logical, &df_schema)
            .and_then(|e| simplifier.simplify(e))
            .map_err(df_error)?;
        let ty = predicate.get_type(&df_schema).map_err(df_error)?;
        if ty != datafusion::arrow::datatypes::DataType::Boolean {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                "the WHERE clause of a DELETE must be a condition",
            ));
        }
        if olap.keys_type != KeysType::Duplicate {
            for c in predicate.column_refs() {
                if !olap.column(&c.name).is_some_and(|col| col.is_key) {
                    return Err(SqlError::new(
                        ErrorCode::ER_WRONG_ARGUMENTS,
                        format!(
                            "DELETE on a {} KEY table can only filter on key columns; '{}' is a value column",
                            olap.keys_type.as_str(),
                            c.name
                        ),
                    ));
                }
            }
        }
        // Tablets that may hold matching rows, each at its partition's visible version.
        let filters = [predicate.clone()];
        let selected = prune_partitions(olap, &filters);
        let buckets = prune_buckets(olap, &filters);
        // Every complete replica rewrites its copy alike; the rows deleted are counted on
        // the first replica of each tablet.
        let mut tablets = vec![];
        for &i in &selected {
            let p = &olap.partitions[i];
            if !only.is_empty() && !only.iter().any(|n| n.eq_ignore_ascii_case(&p.name)) {
                continue;
            }
            for (b, t) in p.tablets.iter().enumerate() {
                if buckets.as_ref().is_none_or(|bs| bs.contains(&(b as u32))) {
                    let complete = p.replicas_of(b).into_iter().filter(|r| r.is_complete());
                    for (n, r) in complete.enumerate() {
                        tablets.push((r.backend, n == 0, *t, p.visible_version));
                    }
                }
            }
        }
        let target = write_target(&table, olap, None)?;
        let txn = self.fe.begin_txn().await?;
        let mut by_backend: std::collections::BTreeMap<_, Vec<_>> = Default::default();
        for (b, counted, t, v) in tablets {
            by_backend.entry((b, counted)).or_default().push((t, v));
        }
        let cluster = self.fe.cluster();
        let calls = by_backend.into_iter().map(|((b, counted), tablets)| {
            let request = DeleteRequest {
                target: Arc::clone(&target),
                tablets,
                predicate: predicate.clone(),
            };
            async move {
                let d = cluster.backend(b)?.delete_rows(txn, request).await?;
                Ok::<_, SqlError>((counted, d))
            }
        });
        let mut deleted = rigel_be_api::DeleteSummary::default();
        for r in futures::future::join_all(calls).await {
            match r {
                Ok((counted, d)) => {
                    if counted {
                        deleted.rows += d.rows;
                    }
                    deleted.tablets.extend(d.tablets);
                }
                Err(e) => {
                    self.fe.abort_txn(txn).await;
                    return Err(e);
                }
            }
        }
        deleted.tablets.sort();
        deleted.tablets.dedup();
        if deleted.tablets.is_empty() {
            self.fe.abort_txn(txn).await;
        } else {
            let summary = SinkSummary {
                rows: 0,
                bytes: 0,
                tablets: deleted.tablets,
                failed: vec![],
            };
            let label = format!("delete_{}", txn.0);
            self.fe.commit_txn(txn, &table, label, &summary).await?;
        }
        Ok(QueryResult::Ok {
            affected_rows: deleted.rows,
            last_insert_id: 0,
            warnings: 0,
            info: String::new(),
        })
    }
}
