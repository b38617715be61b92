//! JSON bodies: documents (or an array of them with `strip_outer_array`) become rows.
//!
//! Fields are found by `jsonpaths` (`$.a.b[0]`, in the order of the source columns) or by
//! key (case-insensitive). Strings load as themselves, numbers and booleans as their text,
//! objects and arrays as JSON text, `null` and missing keys as NULL.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use serde_json::Value;

use crate::csv::{BadRow, Columns, Split};

/// A parsed JSON path: keys and array indexes after `$`.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("JSON path '{path}' must start with '$'"))?;
    let mut steps = vec![];
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return Err(format!("empty key in JSON path '{path}'"));
                }
                steps.push(Step::Key(rest[start..j].to_string()));
                i = j;
            }
            b'[' => {
                let end = rest[i..]
                    .find(']')
                    .ok_or_else(|| format!("unclosed '[' in JSON path '{path}'"))?
                    + i;
                let inner = rest[i + 1..end].trim();
                if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else {
                    steps.push(Step::Key(inner.trim_matches(['"', '\'']).to_string()));
                }
                i = end + 1;
            }
            _ => return Err(format!("invalid JSON path '{path}'")),
        }
    }
    Ok(steps)
}

fn follow<'a>(mut v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for s in steps {
        v = match (s, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(n), Value::Array(a)) => a.get(*n)?,
            _ => return None,
        };
    }
    Some(v)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// Splits a whole JSON body into the named source columns.
pub fn split_json(
    body: &[u8],
    names: &[String],
    jsonpaths: Option<&[String]>,
    json_root: Option<&str>,
    strip_outer_array: bool,
) -> Result<Split, String> {
    let paths: Option<Vec<Vec<Step>>> = jsonpaths
        .map(|ps| ps.iter().map(|p| parse_path(p)).collect::<Result<_, _>>())
        .transpose()?;
    if let Some(p) = &paths
        && p.len() != names.len()
    {
        return Err(format!(
            "jsonpaths has {} paths but {} columns are loaded",
            p.len(),
            names.len()
        ));
    }
    let root = json_root.map(parse_path).transpose()?;
    let mut documents = vec![];
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    for doc in stream {
        let doc = doc.map_err(|e| format!("invalid JSON: {e}"))?;
        let doc = match &root {
            Some(steps) => follow(&doc, steps)
                .cloned()
                .ok_or_else(|| "json_root does not exist in the document".to_string())?,
            None => doc,
        };
        match doc {
            Value::Array(items) if strip_outer_array => documents.extend(items),
            Value::Array(_) => {
                return Err(
                    "the body is a JSON array; set the header strip_outer_array: true".to_string(),
                );
            }
            other => documents.push(other),
        }
    }
    let mut cols: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
    let mut bad = vec![];
    let mut rows = 0;
    for doc in &documents {
        let Value::Object(map) = doc else {
            bad.push(BadRow {
                text: doc.to_string(),
                reason: "a row must be a JSON object".to_string(),
            });
            continue;
        };
        for (i, b) in cols.iter_mut().enumerate() {
            let v = match &paths {
                Some(p) => follow(doc, &p[i]),
                None => map.get(&names[i]).or_else(|| {
                    map.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&names[i]))
                        .map(|(_, v)| v)
                }),
            };
            match v.and_then(text) {
                Some(t) => b.append_value(t),
                None => b.append_null(),
            }
        }
        rows += 1;
    }
    Ok(Split {
        columns: Columns::Arrays(
            cols.iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef)
                .collect(),
        ),
        rows,
        bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn array_and_paths() {
        let body = br#"{"data": [{"id": 1, "info": {"name": "a", "tags": [1, 2]}}, {"id": 2, "info": null}, 3]}"#;
        let s = split_json(
            body,
            &names(&["id", "name", "tags"]),
            Some(&names(&["$.id", "$.info.name", "$.info.tags"])),
            Some("$.data"),
            true,
        )
        .unwrap();
        assert_eq!(s.rows, 2);
        assert_eq!(s.bad.len(), 1);
        let columns = s.columns.arrays().unwrap();
        let c = columns[1].as_string::<i32>();
        assert_eq!(c.value(0), "a");
        assert!(c.is_null(1));
        assert_eq!(columns[2].as_string::<i32>().value(0), "[1,2]");
    }

    #[test]
    fn documents_by_key() {
        let body = b"{\"ID\": 1, \"v\": \"x\"}\n{\"id\": 2, \"v\": true}";
        let s = split_json(body, &names(&["id", "v"]), None, None, false).unwrap();
        assert_eq!(s.rows, 2);
        let columns = s.columns.arrays().unwrap();
        assert_eq!(columns[0].as_string::<i32>().value(0), "1");
        assert_eq!(columns[1].as_string::<i32>().value(1), "true");
        assert!(split_json(b"[1]", &names(&["a"]), None, None, false).is_err());
        assert!(split_json(b"{bad", &names(&["a"]), None, None, false).is_err());
    }
}
