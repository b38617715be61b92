//! `COUNT(DISTINCT c)` over a BITMAP or HLL column counts the values the sketches hold, as
//! in StarRocks: it becomes `bitmap_union_count(c)` or `hll_union_agg(c)`. Counting the
//! distinct encodings instead would be silently wrong.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;
use rigel_common::types::TYPE_METADATA_KEY;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct CountDistinctSketch;

impl AnalyzerRule for CountDistinctSketch {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let LogicalPlan::Aggregate(agg) = &plan else {
                return Ok(Transformed::no(plan));
            };
            let rewritten: Vec<Option<Expr>> = agg
                .aggr_expr
                .iter()
                .map(|e| rewrite(e, agg.input.schema()))
                .collect();
            if rewritten.iter().all(Option::is_none) {
                return Ok(Transformed::no(plan));
            }
            let LogicalPlan::Aggregate(agg) = plan else {
                return Ok(Transformed::no(plan));
            };
            let aggr_expr = agg
                .aggr_expr
                .into_iter()
                .zip(rewritten)
                .map(|(old, new)| new.unwrap_or(old))
                .collect();
            Aggregate::try_new(agg.input, agg.group_expr, aggr_expr)
                .map(|a| Transformed::yes(LogicalPlan::Aggregate(a)))
        })
        .data()
    }

    fn name(&self) -> &str {
        "count_distinct_sketch"
    }
}

/// The replacement of one aggregate expression, keeping its output name.
fn rewrite(expr: &Expr, input: &DFSchema) -> Option<Expr> {
    let (inner, alias) = match expr {
        Expr::Alias(a) => (a.expr.as_ref(), Some(a.name.clone())),
        other => (other, None),
    };
    let Expr::AggregateFunction(f) = inner else {
        return None;
    };
    let params = &f.params;
    if f.func.name() != "count" || !params.distinct || params.filter.is_some() {
        return None;
    }
    let [Expr::Column(column)] = params.args.as_slice() else {
        return None;
    };
    let (_, field) = input.qualified_field_from_column(column).ok()?;
    let udaf = match field.metadata().get(TYPE_METADATA_KEY)?.as_str() {
        "bitmap" => rigel_functions::sketch::bitmap_union_count_udaf(),
        "hll" => rigel_functions::sketch::hll_union_agg_udaf(),
        _ => return None,
    };
    let name = alias.unwrap_or_else(|| inner.schema_name().to_string());
    Some(
        std::sync::Arc::new(udaf)
            .call(vec![Expr::Column(column.clone())])
            .alias(name),
    )
}
