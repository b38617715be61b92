//! Stream Load headers, validated.

use std::collections::BTreeMap;
use std::time::Duration;

/// Body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip / deflate streams.
    Gzip,
    /// Zstandard frames.
    Zstd,
    /// LZ4 frames.
    Lz4,
}

/// Data format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text.
    Csv,
    /// JSON documents.
    Json,
}

/// One item of the `columns` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnItem {
    /// A source field with this name.
    Source(String),
    /// A column computed from the source fields: `name = expression`.
    Derived(String, String),
}

/// Everything a Stream Load request asks for.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `label`
    pub label: Option<String>,
    /// `format`
    pub format: Format,
    /// `column_separator` (default `\t`)
    pub column_separator: Vec<u8>,
    /// `row_delimiter` (default `\n`)
    pub row_delimiter: Vec<u8>,
    /// `columns`
    pub columns: Option<Vec<ColumnItem>>,
    /// `where`
    pub where_clause: Option<String>,
    /// `partitions`
    pub partitions: Vec<String>,
    /// `max_filter_ratio` (0..=1, default 0)
    pub max_filter_ratio: f64,
    /// `timeout` (default 600 s)
    pub timeout: Duration,
    /// `strict_mode` (default false)
    pub strict_mode: bool,
    /// `timezone`
    pub timezone: Option<String>,
    /// `skip_header` lines
    pub skip_header: usize,
    /// `trim_space`
    pub trim_space: bool,
    /// `enclose`
    pub enclose: Option<u8>,
    /// `escape`
    pub escape: Option<u8>,
    /// `jsonpaths`
    pub jsonpaths: Option<Vec<String>>,
    /// `strip_outer_array`
    pub strip_outer_array: bool,
    /// `json_root`
    pub json_root: Option<String>,
    /// `ignore_json_size`
    pub ignore_json_size: bool,
    /// `compression` / `Content-Encoding`
    pub compression: Option<Compression>,
    /// `load_mem_limit` bytes (0 = default)
    pub load_mem_limit: u64,
    /// `partial_update`: rows of existing keys keep the columns the load does not give
    /// (PRIMARY KEY tables, row mode).
    pub partial_update: bool,
    /// `merge_condition`: a row replaces the existing row of its key only if its value of
    /// this column is not smaller (PRIMARY KEY tables).
    pub merge_condition: Option<String>,
    /// `log_rejected_record_num` (-1 all, 0 none); default 1000 in the error log.
    pub log_rejected: i64,
}

/// Decodes `\t`, `\n`, `\\`, `\xHH` escapes in separators.
pub fn unescape_separator(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b't' => {
                    out.push(b'\t');
                    i += 2;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                }
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                }
                b'x' | b'X' => {
                    let hex = text
                        .get(i + 2..i + 4)
                        .ok_or_else(|| format!("bad hex escape in '{text}'"))?;
                    let b = u8::from_str_radix(hex, 16)
                        .map_err(|_| format!("bad hex escape in '{text}'"))?;
                    out.push(b);
                    i += 4;
                }
                _ => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.is_empty() {
        return Err("a separator cannot be empty".to_string());
    }
    Ok(out)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "invalid value '{v}' for header '{key}': expected true or false"
        )),
    }
}

/// Splits the `columns` header at top-level commas (not inside parentheses or quotes).
fn split_columns(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in text.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '(' => {
                    depth += 1;
                    cur.push(c);
                }
                ')' => {
                    depth -= 1;
                    cur.push(c);
                }
                ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            },
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn unquote_ident(s: &str) -> String {
    s.trim().trim_matches('`').to_ascii_lowercase()
}

impl LoadOptions {
    /// Parses and validates the request headers.
    pub fn from_headers(h: &BTreeMap<String, String>) -> Result<Self, String> {
        let get = |k: &str| h.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let format = match get("format").map(|f| f.to_ascii_lowercase()) {
            None => Format::Csv,
            Some(f) if f == "csv" => Format::Csv,
            Some(f) if f == "json" => Format::Json,
            Some(f) => return Err(format!("unsupported format '{f}' (csv or json)")),
        };
        let column_separator = match h.get("column_separator") {
            Some(s) if !s.is_empty() => unescape_separator(s)?,
            _ => b"\t".to_vec(),
        };
        let row_delimiter = match h.get("row_delimiter") {
            Some(s) if !s.is_empty() => unescape_separator(s)?,
            _ => b"\n".to_vec(),
        };
        let columns = match get("columns") {
            None => None,
            Some(text) => {
                let mut items = vec![];
                for part in split_columns(text) {
                    match part.split_once('=') {
                        Some((name, expr)) if !name.contains('(') && !expr.trim().is_empty() => {
                            items.push(ColumnItem::Derived(
                                unquote_ident(name),
                                expr.trim().to_string(),
                            ))
                        }
                        _ => {
                            let name = unquote_ident(&part);
                            if name.is_empty() || name.contains(char::is_whitespace) {
                                return Err(format!("invalid item '{part}' in header 'columns'"));
                            }
                            items.push(ColumnItem::Source(name));
                        }
                    }
                }
                if items.is_empty() {
                    return Err("header 'columns' is empty".to_string());
                }
                Some(items)
            }
        };
        let max_filter_ratio = match get("max_filter_ratio") {
            None => 0.0,
            Some(v) => {
                let r: f64 = v
                    .parse()
                    .map_err(|_| format!("invalid max_filter_ratio '{v}'"))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(format!("max_filter_ratio {r} is out of range [0, 1]"));
                }
                r
            }
        };
        let timeout = match get("timeout") {
            None => Duration::from_secs(600),
            Some(v) => {
                let s: u64 = v.parse().map_err(|_| format!("invalid timeout '{v}'"))?;
                if !(1..=259_200).contains(&s) {
                    return Err(format!("timeout {s} is out of range [1, 259200]"));
                }
                Duration::from_secs(s)
            }
        };
        let one_byte = |key: &str| -> Result<Option<u8>, String> {
            match h.get(key) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => {
                    let b = unescape_separator(v)?;
                    if b.len() != 1 {
                        return Err(format!("header '{key}' must be a single byte"));
                    }
                    Ok(Some(b[0]))
                }
            }
        };
        let compression = match get("compression")
            .or_else(|| get("content-encoding"))
            .map(|c| c.to_ascii_lowercase())
        {
            None => None,
            Some(c) => match c.as_str() {
                "gzip" | "gz" | "deflate" => Some(Compression::Gzip),
                "zstd" | "zst" => Some(Compression::Zstd),
                "lz4" | "lz4_frame" => Some(Compression::Lz4),
                "identity" | "none" | "" => None,
                other => {
                    return Err(format!(
                        "unsupported compression '{other}' (gzip, zstd, lz4)"
                    ));
                }
            },
        };
        let partial_update = get("partial_update")
            .map(|v| parse_bool("partial_update", v))
            .transpose()?
            .unwrap_or(false);
        if let Some(mode) = get("partial_update_mode")
            && !mode.trim().eq_ignore_ascii_case("row")
        {
            return Err(format!(
                "partial_update_mode '{mode}' is not supported (row mode is)"
            ));
        }
        let merge_condition = get("merge_condition")
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        let jsonpaths = match get("jsonpaths") {
            None => None,
            Some(text) => {
                let v: Vec<String> = serde_json::from_str(text)
                    .map_err(|e| format!("invalid jsonpaths '{text}': {e}"))?;
                if v.is_empty() {
                    return Err("jsonpaths is empty".to_string());
                }
                for p in &v {
                    if !p.starts_with('$') {
                        return Err(format!("invalid JSON path '{p}': it must start with '$'"));
                    }
                }
                Some(v)
            }
        };
        let partitions = get("partitions")
            .map(|p| {
                p.split(',')
                    .map(|s| s.trim().trim_matches('`').to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            label: get("label").map(str::to_string),
            format,
            column_separator,
            row_delimiter,
            columns,
            where_clause: get("where").map(str::to_string),
            partitions,
            max_filter_ratio,
            timeout,
            strict_mode: get("strict_mode")
                .map(|v| parse_bool("strict_mode", v))
                .transpose()?
                .unwrap_or(false),
            timezone: get("timezone")
                .or_else(|| get("time_zone"))
                .map(str::to_string),
            skip_header: get("skip_header")
                .map(|v| {
                    v.parse::<usize>()
                        .map_err(|_| format!("invalid skip_header '{v}'"))
                })
                .transpose()?
                .unwrap_or(0),
            trim_space: get("trim_space")
                .map(|v| parse_bool("trim_space", v))
                .transpose()?
                .unwrap_or(false),
            enclose: one_byte("enclose")?,
            escape: one_byte("escape")?,
            jsonpaths,
            strip_outer_array: get("strip_outer_array")
                .map(|v| parse_bool("strip_outer_array", v))
                .transpose()?
                .unwrap_or(false),
            json_root: get("json_root").map(str::to_string),
            ignore_json_size: get("ignore_json_size")
                .map(|v| parse_bool("ignore_json_size", v))
                .transpose()?
                .unwrap_or(false),
            compression,
            partial_update,
            merge_condition,
            load_mem_limit: get("load_mem_limit")
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| format!("invalid load_mem_limit '{v}'"))
                })
                .transpose()?
                .unwrap_or(0),
            log_rejected: get("log_rejected_record_num")
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| format!("invalid log_rejected_record_num '{v}'"))
                })
                .transpose()?
                .unwrap_or(1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<LoadOptions, String> {
        let h = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LoadOptions::from_headers(&h)
    }

    #[test]
    fn separators() {
        assert_eq!(unescape_separator("|").unwrap(), b"|");
        assert_eq!(unescape_separator("\\x01").unwrap(), vec![1u8]);
        assert_eq!(unescape_separator("\\t").unwrap(), b"\t");
        assert_eq!(unescape_separator("||").unwrap(), b"||");
        assert!(unescape_separator("\\xZZ").is_err());
    }

    #[test]
    fn columns_header() {
        let o = opts(&[("columns", "c1, tmp, c2 = tmp * 100, c3 = concat(a, ',', b)")]).unwrap();
        assert_eq!(
            o.columns.unwrap(),
            vec![
                ColumnItem::Source("c1".into()),
                ColumnItem::Source("tmp".into()),
                ColumnItem::Derived("c2".into(), "tmp * 100".into()),
                ColumnItem::Derived("c3".into(), "concat(a, ',', b)".into()),
            ]
        );
    }

    #[test]
    fn bad_headers() {
        assert!(opts(&[("max_filter_ratio", "abc")]).is_err());
        assert!(opts(&[("max_filter_ratio", "2")]).is_err());
        assert!(opts(&[("timeout", "0")]).is_err());
        assert!(opts(&[("format", "avro")]).is_err());
        assert!(opts(&[("strict_mode", "maybe")]).is_err());
        assert!(opts(&[("compression", "bzip9")]).is_err());
        assert!(opts(&[("jsonpaths", "[\"a\"]")]).is_err());
        assert!(opts(&[]).is_ok());
    }
}
