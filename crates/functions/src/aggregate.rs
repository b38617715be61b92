//! Aggregate functions with StarRocks' result types.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, ReversedUDAF,
    Signature,
};

/// `AVG`: DataFusion's implementation, except that a DECIMAL(p, s) argument gives
/// DECIMAL(38, max(s, 12)) as in StarRocks (DataFusion returns DECIMAL(p + 4, s + 4)). The
/// decimal accumulators compute at whatever scale the return type asks for.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StarRocksAvg {
    inner: Arc<AggregateUDF>,
}

impl StarRocksAvg {
    /// Wraps DataFusion's `avg`.
    pub fn new() -> Self {
        Self {
            inner: datafusion::functions_aggregate::average::avg_udaf(),
        }
    }
}

impl Default for StarRocksAvg {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for StarRocksAvg {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::Decimal128(_, s)) => Ok(DataType::Decimal128(38, (*s).max(12))),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.accumulator(acc_args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// The aggregate functions.
pub fn functions() -> Vec<AggregateUDF> {
    let mut v = vec![AggregateUDF::new_from_impl(StarRocksAvg::new())];
    v.extend(crate::sketch::aggregates());
    v
}
