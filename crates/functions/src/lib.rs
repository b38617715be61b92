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

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::execution::SessionStateDefaults;
use datafusion::execution::context::TaskContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};

pub use session::SessionFacts;

/// Every Rigel scalar function.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    let mut v = session::functions();
    v.extend(datetime::functions());
    v.extend(string::functions());
    v.extend(sketch::functions());
    v
}

/// MySQL spellings of functions DataFusion has under other names: (alias, DataFusion's name).
const MYSQL_ALIASES: &[(&str, &str)] = &[
    ("lcase", "lower"),
    ("ucase", "upper"),
    ("mid", "substr"),
    ("ceiling", "ceil"),
    ("rand", "random"),
    ("truncate", "trunc"),
];

/// Every scalar function a statement may call: DataFusion's, their MySQL spellings, then
/// Rigel's (which win over DataFusion's of the same name, being registered last).
pub fn catalog_scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut scalars = SessionStateDefaults::default_scalar_functions();
    let by_name: BTreeMap<String, Arc<ScalarUDF>> = scalars
        .iter()
        .map(|f| (f.name().to_string(), Arc::clone(f)))
        .collect();
    for (alias, target) in MYSQL_ALIASES {
        if let Some(f) = by_name.get(*target) {
            scalars.push(Arc::new(f.as_ref().clone().with_aliases([*alias])));
        }
    }
    // A DataFusion function whose name a Rigel function takes (as its name or an alias)
    // goes: its other aliases would otherwise still reach it, and a plan naming it would
    // resolve to Rigel's function on the node that decodes the plan.
    let ours: Vec<Arc<ScalarUDF>> = scalar_functions().into_iter().map(Arc::new).collect();
    let taken: std::collections::BTreeSet<&str> = ours
        .iter()
        .flat_map(|f| std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str)))
        .collect();
    scalars.retain(|f| !taken.contains(f.name()));
    scalars.extend(ours.iter().cloned());
    scalars
}

/// Every aggregate function: DataFusion's, then Rigel's.
pub fn catalog_aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    SessionStateDefaults::default_aggregate_functions()
        .into_iter()
        .chain(aggregate::functions().into_iter().map(Arc::new))
        .collect()
}

/// Every window function.
pub fn catalog_window_functions() -> Vec<Arc<WindowUDF>> {
    SessionStateDefaults::default_window_functions()
}

/// A task context whose registry holds every function of the catalog: where a node that
/// receives expressions and plans from another resolves the functions they name.
pub fn function_context() -> TaskContext {
    let state = SessionStateBuilder::new()
        .with_scalar_functions(catalog_scalar_functions())
        .with_aggregate_functions(catalog_aggregate_functions())
        .with_window_functions(catalog_window_functions())
        .build();
    TaskContext::from(&state)
}
