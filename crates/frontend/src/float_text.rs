//! FLOAT and DOUBLE values cast to text read as MySQL and StarRocks write them: an integral
//! value has no fraction (`CAST(2.0e0 AS CHAR)` is `2`, where Arrow's cast gives `2.0`).
//! The rule runs after type coercion, so the casts that coercion adds (`concat('x', 2e0)`)
//! are covered as well as written ones.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility, cast as cast_expr,
};
use datafusion::optimizer::AnalyzerRule;
use rigel_common::types::float_text;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct FloatText;

impl AnalyzerRule for FloatText {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let mut schema = DFSchema::empty();
            for input in plan.inputs() {
                schema.merge(input.schema());
            }
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                let rewritten = expr.transform_up(|e| rewrite(e, &schema))?;
                Ok(rewritten.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "float_text"
    }
}

fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match expr {
        // An expression whose type cannot be told here is left to the cast.
        Expr::Cast(c)
            if matches!(
                c.field.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) && c.expr.get_type(schema).is_ok_and(|t| {
                matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
            }) =>
        {
            let text = Expr::ScalarFunction(ScalarFunction::new_udf(
                Arc::clone(&FLOAT_TO_TEXT),
                vec![*c.expr],
            ));
            Ok(Transformed::yes(match c.field.data_type() {
                DataType::Utf8 => text,
                other => cast_expr(text, other.clone()),
            }))
        }
        other => Ok(Transformed::no(other)),
    }
}

static FLOAT_TO_TEXT: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(FloatToText::default())));

/// `float_to_text(x)`: a float as MySQL writes it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FloatToText {
    signature: Signature,
}

impl Default for FloatToText {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FloatToText {
    fn name(&self) -> &str {
        "float_to_text"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let values = args.args[0].to_array(args.number_rows)?;
        let text = floats_as_text(&values)?;
        if scalar {
            return Ok(ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::try_from_array(&text, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(text))
    }
}

/// Arrow's text of each float, with the `.0` of integral values dropped.
fn floats_as_text(values: &ArrayRef) -> Result<ArrayRef> {
    let arrow_text = cast(values, &DataType::Utf8)?;
    let arrow_text = arrow_text.as_string::<i32>();
    let mut out = StringBuilder::with_capacity(arrow_text.len(), arrow_text.value_data().len());
    for v in arrow_text.iter() {
        out.append_option(v.map(float_text));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;

    #[test]
    fn integral_floats_lose_their_fraction() {
        let values: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(2.0),
            Some(-3.0),
            Some(2.5),
            None,
            Some(1e20),
        ]));
        let text = floats_as_text(&values).unwrap();
        let text: Vec<Option<&str>> = text.as_string::<i32>().iter().collect();
        assert_eq!(
            text,
            [Some("2"), Some("-3"), Some("2.5"), None, Some("1e20")]
        );
    }
}
