//! Rigel's errors inside DataFusion's: a [`SqlError`] raised in a plan keeps its code when
//! the plan runs on another node.
//!
//! A task of a distributed query reports its failure as a DataFusion error, which crosses
//! to the frontend with its structure (contexts, causes) but with foreign errors reduced to
//! their text. [`plan_error`] therefore puts the error's wire form ([`pb::WireError`],
//! hex-encoded) in a context around it, and [`sql_error`] reads it back on the other side
//! (or finds the error itself, on the node that raised it).

use datafusion::common::DataFusionError;
use prost::Message;
use rigel_be_api::pb;
use rigel_common::SqlError;

/// The start of the context that carries an error's wire form.
const WIRE_CONTEXT: &str = "rigel-error ";

/// `e` as a DataFusion error that keeps its code across nodes.
pub fn plan_error(e: SqlError) -> DataFusionError {
    let wire = pb::WireError::from(&e).encode_to_vec();
    let mut context = String::with_capacity(WIRE_CONTEXT.len() + wire.len() * 2);
    context.push_str(WIRE_CONTEXT);
    for b in wire {
        context.push_str(&format!("{b:02x}"));
    }
    DataFusionError::Context(context, Box::new(DataFusionError::External(Box::new(e))))
}

/// The Rigel error `e` carries, raised here or on another node.
pub fn sql_error(e: &DataFusionError) -> Option<SqlError> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<SqlError>().cloned(),
        DataFusionError::Context(context, inner) => context
            .strip_prefix(WIRE_CONTEXT)
            .and_then(decode)
            .or_else(|| sql_error(inner)),
        DataFusionError::Shared(inner) => sql_error(inner),
        DataFusionError::Diagnostic(_, inner) => sql_error(inner),
        _ => None,
    }
}

fn decode(hex: &str) -> Option<SqlError> {
    if !hex.is_ascii() || !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    let wire = pb::WireError::decode(bytes?.as_slice()).ok()?;
    Some(SqlError::from(&wire))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rigel_common::ErrorCode;

    use super::*;

    /// What crossing to another node does to an error: the structure stays, foreign
    /// errors become their text.
    fn crossed(e: DataFusionError) -> DataFusionError {
        match e {
            DataFusionError::Context(c, inner) => {
                DataFusionError::Context(c, Box::new(crossed(*inner)))
            }
            DataFusionError::External(inner) => {
                DataFusionError::External(Box::new(std::io::Error::other(inner.to_string())))
            }
            other => other,
        }
    }

    #[test]
    fn codes_survive_the_crossing() {
        for &code in ErrorCode::ALL {
            let e = SqlError::new(code, "backend 10002 is gone");
            assert_eq!(sql_error(&plan_error(e.clone())), Some(e.clone()));
            assert_eq!(sql_error(&crossed(plan_error(e.clone()))), Some(e.clone()));
            let shared = DataFusionError::Shared(Arc::new(crossed(plan_error(e.clone()))));
            assert_eq!(sql_error(&shared), Some(e));
        }
    }

    #[test]
    fn other_errors_carry_none() {
        assert_eq!(sql_error(&DataFusionError::Execution("x".into())), None);
        let bad = DataFusionError::Context(
            format!("{WIRE_CONTEXT}zz"),
            Box::new(DataFusionError::Execution("x".into())),
        );
        assert_eq!(sql_error(&bad), None);
    }
}
