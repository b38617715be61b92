//! MySQL/StarRocks arithmetic, applied while SQL is planned: an integer divided by an
//! integer is a DOUBLE (`5 / 2` is `2.5`), dividing (or taking a modulo) by zero gives NULL
//! instead of an error, and `a DIV b` is integer division.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator, cast, lit};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// The planner hook.
#[derive(Debug, Default)]
pub struct MySqlArithmetic;

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

/// `expr`, or NULL when it is zero.
fn null_if_zero(expr: Expr, ty: &DataType) -> Expr {
    match ScalarValue::new_zero(ty) {
        Ok(zero) => datafusion::functions::core::expr_fn::nullif(expr, lit(zero)),
        Err(_) => expr,
    }
}

fn binary(l: Expr, op: Operator, r: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(Box::new(l), op, Box::new(r)))
}

impl ExprPlanner for MySqlArithmetic {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if !matches!(
            expr.op,
            BinaryOperator::Divide | BinaryOperator::Modulo | BinaryOperator::MyIntegerDivide
        ) {
            return Ok(PlannerResult::Original(expr));
        }
        let (Ok(lt), Ok(rt)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        let numeric = |t: &DataType| t.is_numeric() || *t == DataType::Null;
        if !numeric(&lt) || !numeric(&rt) {
            return Ok(PlannerResult::Original(expr));
        }
        let both_int = is_integer(&lt) && is_integer(&rt);
        let RawBinaryExpr { op, left, right } = expr;
        let planned = match op {
            BinaryOperator::Divide if both_int => binary(
                cast(left, DataType::Float64),
                Operator::Divide,
                null_if_zero(cast(right, DataType::Float64), &DataType::Float64),
            ),
            BinaryOperator::Divide => binary(left, Operator::Divide, null_if_zero(right, &rt)),
            BinaryOperator::Modulo => binary(left, Operator::Modulo, null_if_zero(right, &rt)),
            _ if both_int => binary(
                cast(left, DataType::Int64),
                Operator::Divide,
                null_if_zero(cast(right, DataType::Int64), &DataType::Int64),
            ),
            _ => cast(
                datafusion::functions::math::expr_fn::trunc(vec![binary(
                    cast(left, DataType::Float64),
                    Operator::Divide,
                    null_if_zero(cast(right, DataType::Float64), &DataType::Float64),
                )]),
                DataType::Int64,
            ),
        };
        Ok(PlannerResult::Planned(planned))
    }
}
