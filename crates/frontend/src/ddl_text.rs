//! The DDL text of catalog objects, as SHOW CREATE TABLE and DESC print it: quoted
//! names, column definitions, defaults, partitions and distribution in StarRocks' syntax.

use std::fmt::Write as _;

use datafusion::scalar::ScalarValue;
use rigel_common::ColumnType;
use rigel_sql::DefaultValue;

use crate::result::s;
use rigel_catalog::{Column, Distribution, OlapTable, PartitionScheme, Table, TableKind};

/// A name as a backquoted MySQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

pub(crate) fn dq(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The type as DESC shows it (without display widths).
pub(crate) fn desc_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::TinyInt => "tinyint".into(),
        ColumnType::SmallInt => "smallint".into(),
        ColumnType::Int => "int".into(),
        ColumnType::BigInt => "bigint".into(),
        ColumnType::LargeInt => "largeint".into(),
        ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        other => other.to_string(),
    }
}

pub(crate) fn default_display(c: &Column) -> ScalarValue {
    match &c.default {
        None | Some(DefaultValue::Null) => ScalarValue::Utf8(None),
        Some(DefaultValue::Literal(v)) => s(v.clone()),
        Some(DefaultValue::CurrentTimestamp) => s("CURRENT_TIMESTAMP"),
        Some(DefaultValue::Expr(e)) => s(e.clone()),
    }
}

pub(crate) fn column_ddl(c: &Column) -> String {
    let mut out = format!("  {} {}", quote(&c.name), c.ty);
    if let Some(agg) = c.agg {
        let _ = write!(out, " {}", agg.as_str());
    }
    out.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    if c.auto_increment {
        out.push_str(" AUTO_INCREMENT");
    }
    match &c.default {
        None => {}
        Some(DefaultValue::Null) => out.push_str(" DEFAULT NULL"),
        Some(DefaultValue::Literal(v)) => {
            let _ = write!(out, " DEFAULT {}", dq(v));
        }
        Some(DefaultValue::CurrentTimestamp) => out.push_str(" DEFAULT CURRENT_TIMESTAMP"),
        Some(DefaultValue::Expr(e)) => {
            let _ = write!(out, " DEFAULT ({e})");
        }
    }
    let _ = write!(out, " COMMENT {}", dq(&c.comment));
    out
}

pub(crate) fn values_ddl(vals: &[String]) -> String {
    vals.iter().map(|v| dq(v)).collect::<Vec<_>>().join(", ")
}

/// The value tuples of a LIST partition as DDL writes them: `("a", "b")` for one partition
/// column, `(("a", "1"), ("b", "2"))` for several.
pub(crate) fn list_values_ddl(tuples: &[Vec<String>]) -> String {
    let single = tuples.iter().all(|t| t.len() == 1);
    let items: Vec<String> = tuples
        .iter()
        .map(|t| {
            if single {
                values_ddl(t)
            } else {
                format!("({})", values_ddl(t))
            }
        })
        .collect();
    format!("({})", items.join(", "))
}

/// SHOW CREATE TABLE text; feeding it back creates an identical table.
pub(crate) fn create_table_ddl(table: &Table) -> String {
    match &table.kind {
        TableKind::View(v) => {
            let mut out = format!("CREATE VIEW {}", quote(&table.name));
            if !v.columns.is_empty() {
                let cols: Vec<String> = v
                    .columns
                    .iter()
                    .map(|(n, c)| match c {
                        Some(c) => format!("{} COMMENT {}", quote(n), dq(c)),
                        None => quote(n),
                    })
                    .collect();
                let _ = write!(out, " ({})", cols.join(", "));
            }
            if !table.comment.is_empty() {
                let _ = write!(out, " COMMENT {}", dq(&table.comment));
            }
            let _ = write!(out, " AS {};", v.query);
            out
        }
        TableKind::Olap(o) => olap_ddl(table, o),
    }
}

pub(crate) fn olap_ddl(table: &Table, o: &OlapTable) -> String {
    let mut out = format!("CREATE TABLE {} (\n", quote(&table.name));
    let mut elements: Vec<String> = o.columns.iter().map(column_ddl).collect();
    for idx in &o.indexes {
        let cols: Vec<String> = idx.columns.iter().map(|c| quote(c)).collect();
        let mut e = format!("  INDEX {} ({})", quote(&idx.name), cols.join(", "));
        if let Some(u) = &idx.using {
            let _ = write!(e, " USING {u}");
        }
        if let Some(c) = &idx.comment {
            let _ = write!(e, " COMMENT {}", dq(c));
        }
        elements.push(e);
    }
    out.push_str(&elements.join(",\n"));
    out.push_str("\n) ENGINE=OLAP\n");
    let keys: Vec<String> = o.key_columns().iter().map(|c| quote(c)).collect();
    let _ = writeln!(out, "{} KEY({})", o.keys_type.as_str(), keys.join(", "));
    if !table.comment.is_empty() {
        let _ = writeln!(out, "COMMENT {}", dq(&table.comment));
    }
    if let (PartitionScheme::Range { columns }, Some(unit)) =
        (&o.partition_scheme, &o.auto_partition)
    {
        // Expression partitioning: the partitions are the loads' to create.
        let col = columns.first().map(|c| quote(c)).unwrap_or_default();
        let _ = writeln!(out, "PARTITION BY date_trunc('{unit}', {col})");
    } else if let (PartitionScheme::List { columns }, Some(_)) =
        (&o.partition_scheme, &o.auto_partition)
    {
        let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let _ = writeln!(out, "PARTITION BY ({})", cols.join(", "));
    } else if let PartitionScheme::List { columns } = &o.partition_scheme {
        let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let _ = writeln!(out, "PARTITION BY LIST({})", cols.join(", "));
        let parts: Vec<String> = o
            .partitions
            .iter()
            .map(|p| {
                format!(
                    "PARTITION {} VALUES IN {}",
                    quote(&p.name),
                    list_values_ddl(p.values.as_deref().unwrap_or_default())
                )
            })
            .collect();
        let _ = writeln!(out, "({})", parts.join(",\n"));
    } else if let PartitionScheme::Range { columns } = &o.partition_scheme {
        let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let _ = writeln!(out, "PARTITION BY RANGE({})", cols.join(", "));
        let parts: Vec<String> = o
            .partitions
            .iter()
            .map(|p| match (&p.lower, &p.upper) {
                (None, Some(u)) => format!(
                    "PARTITION {} VALUES LESS THAN ({})",
                    quote(&p.name),
                    values_ddl(u)
                ),
                (_, None) => format!("PARTITION {} VALUES LESS THAN (MAXVALUE)", quote(&p.name)),
                (Some(l), Some(u)) => format!(
                    "PARTITION {} VALUES [({}), ({}))",
                    quote(&p.name),
                    values_ddl(l),
                    values_ddl(u)
                ),
            })
            .collect();
        let _ = writeln!(out, "({})", parts.join(",\n"));
    }
    match &o.distribution {
        Distribution::Hash { columns, buckets } => {
            let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
            let _ = writeln!(
                out,
                "DISTRIBUTED BY HASH({}) BUCKETS {buckets}",
                cols.join(", ")
            );
        }
        Distribution::Random { buckets } => {
            let _ = writeln!(out, "DISTRIBUTED BY RANDOM BUCKETS {buckets}");
        }
    }
    if !o.order_by.is_empty() {
        let cols: Vec<String> = o.order_by.iter().map(|c| quote(c)).collect();
        let _ = writeln!(out, "ORDER BY({})", cols.join(", "));
    }
    if !o.properties.is_empty() {
        let props: Vec<String> = o
            .properties
            .iter()
            .map(|(k, v)| format!("{} = {}", dq(k), dq(v)))
            .collect();
        let _ = write!(out, "PROPERTIES (\n{}\n)", props.join(",\n"));
    } else {
        out.pop();
    }
    out.push(';');
    out
}
