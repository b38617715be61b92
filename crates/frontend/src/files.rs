//! `FILES()`: StarRocks' table function reading files directly,
//! `SELECT * FROM FILES("path" = "/data/x.parquet", "format" = "parquet")`.
//!
//! Local paths (or `file://` URLs) are supported: a file, a directory (every file in it with
//! the format's extension) or a glob. Formats: Parquet and CSV (`csv.column_separator`,
//! `csv.skip_header`). `INSERT INTO t SELECT * FROM FILES(…)` is the bulk path from files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result as DfResult, ScalarValue, plan_err};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::Expr;
use datafusion::sql::sqlparser::ast;

/// The `files` table function.
#[derive(Debug)]
pub struct FilesFunction;

fn literal_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(s)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _) => Some(s.clone()),
        Expr::Literal(v, _) if !v.is_null() => Some(v.to_string()),
        _ => None,
    }
}

fn expand(path: &str, extension: &str) -> DfResult<Vec<PathBuf>> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    if path.contains("://") {
        return plan_err!(
            "FILES() reads local paths only (got '{path}'); object stores are not supported yet"
        );
    }
    let p = Path::new(path);
    let mut out = vec![];
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| datafusion::error::DataFusionError::Plan(format!("{path}: {e}")))?
            .flatten()
            .map(|e| e.path())
            .filter(|f| f.is_file() && f.to_string_lossy().ends_with(extension))
            .collect();
        entries.sort();
        out.extend(entries);
    } else if path.contains('*') {
        let (dir, pattern) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (".", path),
        };
        let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| datafusion::error::DataFusionError::Plan(format!("{dir}: {e}")))?
            .flatten()
            .map(|e| e.path())
            .filter(|f| {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                f.is_file() && name.starts_with(prefix) && name.ends_with(suffix)
            })
            .collect();
        entries.sort();
        out.extend(entries);
    } else if p.is_file() {
        out.push(p.to_path_buf());
    }
    if out.is_empty() {
        return plan_err!("FILES(): no file matches '{path}'");
    }
    Ok(out)
}

impl TableFunctionImpl for FilesFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() % 2 != 0 {
            return plan_err!("FILES() takes \"key\" = \"value\" pairs");
        }
        let mut props = BTreeMap::new();
        for pair in exprs.chunks(2) {
            let (Some(k), Some(v)) = (literal_text(&pair[0]), literal_text(&pair[1])) else {
                return plan_err!("FILES() properties must be string literals");
            };
            props.insert(k.to_ascii_lowercase(), v);
        }
        let Some(path) = props.get("path") else {
            return plan_err!("FILES() needs a \"path\"");
        };
        let format = props
            .get("format")
            .map(|f| f.to_ascii_lowercase())
            .unwrap_or_else(|| {
                if path.ends_with(".csv") {
                    "csv".to_string()
                } else {
                    "parquet".to_string()
                }
            });
        let (options, extension): (ListingOptions, &str) = match format.as_str() {
            "parquet" => (
                ListingOptions::new(Arc::new(ParquetFormat::default()))
                    .with_file_extension(".parquet"),
                ".parquet",
            ),
            "csv" => {
                let sep = props
                    .get("csv.column_separator")
                    .map(|s| s.as_bytes().first().copied().unwrap_or(b','))
                    .unwrap_or(b',');
                let header = props.get("csv.skip_header").is_some_and(|v| v != "0");
                let fmt = CsvFormat::default()
                    .with_delimiter(sep)
                    .with_has_header(header);
                (
                    ListingOptions::new(Arc::new(fmt)).with_file_extension(""),
                    "",
                )
            }
            other => return plan_err!("FILES() format '{other}' is not supported yet"),
        };
        let files = expand(path, extension)?;
        let schema = infer_schema(&format, &files[0], &props)?;
        let urls = files
            .iter()
            .map(|f| ListingTableUrl::parse(f.to_string_lossy()))
            .collect::<DfResult<Vec<_>>>()?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        Ok(Arc::new(ListingTable::try_new(config)?))
    }
}

fn infer_schema(
    format: &str,
    file: &Path,
    props: &BTreeMap<String, String>,
) -> DfResult<SchemaRef> {
    let open = || {
        std::fs::File::open(file).map_err(|e| {
            datafusion::error::DataFusionError::Plan(format!("{}: {e}", file.display()))
        })
    };
    match format {
        "parquet" => {
            let builder =
                datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    open()?,
                )?;
            // Drop field metadata so files written by other tools compare equal.
            let fields: Vec<Field> = builder
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_metadata(Default::default()))
                .collect();
            Ok(Arc::new(Schema::new(fields)))
        }
        _ => {
            let sep = props
                .get("csv.column_separator")
                .map(|s| s.as_bytes().first().copied().unwrap_or(b','))
                .unwrap_or(b',');
            let header = props.get("csv.skip_header").is_some_and(|v| v != "0");
            let fmt = datafusion::arrow::csv::reader::Format::default()
                .with_delimiter(sep)
                .with_header(header);
            let (schema, _) = fmt.infer_schema(open()?, Some(1000))?;
            Ok(Arc::new(schema))
        }
    }
}

/// StarRocks writes `FILES("k" = "v", …)`: key-value pairs become flat arguments.
pub fn rewrite_files_args(stmt: &mut ast::Statement) {
    fn walk_factor(f: &mut ast::TableFactor) {
        if let ast::TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = f
            && name.to_string().eq_ignore_ascii_case("files")
        {
            let mut flat = vec![];
            for a in args.args.drain(..) {
                match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                        ast::Expr::BinaryOp {
                            left,
                            op: ast::BinaryOperator::Eq,
                            right,
                        },
                    )) => {
                        flat.push(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(*left)));
                        flat.push(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                            *right,
                        )));
                    }
                    other => flat.push(other),
                }
            }
            args.args = flat;
        }
    }
    fn walk_set(body: &mut ast::SetExpr) {
        match body {
            ast::SetExpr::Select(s) => {
                for t in s.from.iter_mut() {
                    walk_factor(&mut t.relation);
                    for j in t.joins.iter_mut() {
                        walk_factor(&mut j.relation);
                    }
                }
            }
            ast::SetExpr::SetOperation { left, right, .. } => {
                walk_set(left);
                walk_set(right);
            }
            ast::SetExpr::Query(q) => walk_set(q.body.as_mut()),
            _ => {}
        }
    }
    if let ast::Statement::Query(q) = stmt {
        walk_set(q.body.as_mut());
    }
}
