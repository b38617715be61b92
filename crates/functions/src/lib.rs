//! StarRocks and MySQL built-in functions that DataFusion lacks or defines differently,
//! as DataFusion scalar UDFs: session functions (`database()`, `user()`, …), MySQL date
//! functions (`date_format`, `str_to_date`, `year`, `datediff`, …) and string functions
//! with MySQL semantics (`length` in bytes, `locate`, `instr`, …), and the HLL and BITMAP
//! functions.

pub mod aggregate;
pub mod datetime;
pub mod session;
pub mod sketch;
pub mod string;

use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;

pub use session::SessionFacts;

/// Every Rigel scalar function.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    let mut v = session::functions();
    v.extend(datetime::functions());
    v.extend(string::functions());
    v.extend(sketch::functions());
    v
}

/// Registers every Rigel function, replacing DataFusion's functions of the same names.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> datafusion::common::Result<()> {
    for f in scalar_functions() {
        registry.register_udf(std::sync::Arc::new(f))?;
    }
    // MySQL spellings of functions DataFusion has under other names.
    for (alias, target) in [
        ("lcase", "lower"),
        ("ucase", "upper"),
        ("mid", "substr"),
        ("ceiling", "ceil"),
        ("rand", "random"),
        ("truncate", "trunc"),
    ] {
        if let Ok(udf) = registry.udf(target) {
            let aliased = udf.as_ref().clone().with_aliases([alias]);
            registry.register_udf(std::sync::Arc::new(aliased))?;
        }
    }
    Ok(())
}
