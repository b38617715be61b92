//! Splitting delimited text into string columns, chunk by chunk.
//!
//! Rows end at `row_delimiter`, fields at `column_separator` (both may be several bytes).
//! `\N` is NULL. A row with one field more than expected whose last field is empty (dbgen's
//! `.tbl` files end every row with `|`) is read as if that trailing separator were absent.
//! With `enclose`, fields may be quoted and contain separators and delimiters; `escape`
//! escapes the next byte inside a quoted field, and a doubled quote is a quote.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use memchr::memmem;

/// A rejected row: its text and why.
#[derive(Debug, Clone)]
pub struct BadRow {
    /// The row as read (lossy UTF-8).
    pub text: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Rows of one chunk, split into columns.
#[derive(Debug)]
pub struct Split {
    /// One string column per expected field.
    pub columns: Vec<ArrayRef>,
    /// Rows in `columns`.
    pub rows: usize,
    /// Rows rejected while splitting.
    pub bad: Vec<BadRow>,
}

/// An incremental splitter.
pub struct CsvSplitter {
    sep: Vec<u8>,
    delim: Vec<u8>,
    enclose: Option<u8>,
    escape: Option<u8>,
    trim: bool,
    fields: usize,
    skip: usize,
    carry: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// Each column's share of the text in the last block (sizes the next block's builders).
    shares: Vec<f64>,
}

struct Builders {
    cols: Vec<StringBuilder>,
    rows: usize,
    bad: Vec<BadRow>,
}

impl Builders {
    /// Builders for a block of `bytes` bytes, sized from the share of the text each column
    /// took in the previous block (`shares`, empty for the first), so that they rarely grow.
    fn new(fields: usize, bytes: usize, shares: &[f64]) -> Self {
        let even = 1.0 / fields.max(1) as f64;
        Self {
            cols: (0..fields)
                .map(|i| {
                    let share = shares.get(i).copied().unwrap_or(even);
                    StringBuilder::with_capacity(1024, (bytes as f64 * share * 1.1) as usize + 64)
                })
                .collect(),
            rows: 0,
            bad: vec![],
        }
    }

    /// Each column's share of the text bytes.
    fn shares(&self) -> Vec<f64> {
        let sizes: Vec<usize> = self.cols.iter().map(|b| b.values_slice().len()).collect();
        let total: usize = sizes.iter().sum();
        if total == 0 {
            return vec![];
        }
        sizes.iter().map(|&s| s as f64 / total as f64).collect()
    }

    fn finish(mut self) -> Split {
        Split {
            columns: self
                .cols
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef)
                .collect(),
            rows: self.rows,
            bad: self.bad,
        }
    }
}

fn bad(text: &[u8], reason: String) -> BadRow {
    let t = String::from_utf8_lossy(text);
    let t = if t.len() > 1024 {
        let mut end = 1024;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &t[..end])
    } else {
        t.into_owned()
    };
    BadRow { text: t, reason }
}

impl CsvSplitter {
    /// A splitter for rows of `fields` fields.
    pub fn new(
        sep: Vec<u8>,
        delim: Vec<u8>,
        enclose: Option<u8>,
        escape: Option<u8>,
        trim: bool,
        fields: usize,
        skip_header: usize,
    ) -> Self {
        Self {
            sep,
            delim,
            enclose,
            escape,
            trim,
            fields,
            skip: skip_header,
            carry: vec![],
            spans: Vec::with_capacity(fields + 1),
            shares: vec![],
        }
    }

    /// Splits the complete rows of `carry + data`; the last, incomplete row is kept for the
    /// next call. With `last`, the remainder is a row even without a final delimiter.
    pub fn push(&mut self, data: &[u8], last: bool) -> Split {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(data);
        let mut out = Builders::new(self.fields, buf.len(), &self.shares);
        let consumed = if self.enclose.is_some() {
            self.split_quoted(&buf, last, &mut out)
        } else {
            self.split_plain(&buf, last, &mut out)
        };
        self.carry = buf[consumed..].to_vec();
        out.finish()
    }

    /// Splits a block of whole rows (the caller cut it after a row delimiter, or it is the
    /// end of the input), independently of any other block: without enclosures, blocks can
    /// be split on several threads at once.
    pub fn split_rows(&mut self, rows: &[u8]) -> Split {
        debug_assert!(self.enclose.is_none());
        let mut out = Builders::new(self.fields, rows.len(), &self.shares);
        self.split_plain(rows, true, &mut out);
        if out.rows > 0 {
            self.shares = out.shares();
        }
        out.finish()
    }

    fn split_plain(&mut self, buf: &[u8], last: bool, out: &mut Builders) -> usize {
        let delim = self.delim.clone();
        let finder = memmem::Finder::new(&delim);
        let mut start = 0;
        loop {
            let end = match finder.find(&buf[start..]) {
                Some(i) => start + i,
                None => {
                    if last && start < buf.len() {
                        buf.len()
                    } else {
                        return start;
                    }
                }
            };
            let row = &buf[start..end];
            start = (end + self.delim.len()).min(buf.len());
            if self.skip > 0 {
                self.skip -= 1;
            } else if !row.is_empty() {
                self.plain_row(row, out);
            }
            if end == buf.len() {
                return buf.len();
            }
        }
    }

    fn plain_row(&mut self, row: &[u8], out: &mut Builders) {
        let Ok(text) = std::str::from_utf8(row) else {
            out.bad
                .push(bad(row, "the row is not valid UTF-8".to_string()));
            return;
        };
        // Field boundaries, in a buffer reused across rows.
        let spans = &mut self.spans;
        spans.clear();
        if self.sep.len() == 1 {
            let mut from = 0;
            for i in memchr::memchr_iter(self.sep[0], row) {
                spans.push((from, i));
                from = i + 1;
            }
            spans.push((from, row.len()));
        } else {
            let mut from = 0;
            for i in memmem::find_iter(row, &self.sep) {
                if i < from {
                    continue;
                }
                spans.push((from, i));
                from = i + self.sep.len();
            }
            spans.push((from, row.len()));
        }
        if spans.len() == self.fields + 1 && spans.last().is_some_and(|(a, b)| a == b) {
            spans.pop();
        }
        if spans.len() != self.fields {
            let got = spans.len();
            out.bad.push(bad(
                row,
                format!(
                    "Value count does not match column count. Expect {}, but got {got}",
                    self.fields,
                ),
            ));
            return;
        }
        for (b, &(from, to)) in out.cols.iter_mut().zip(spans.iter()) {
            let p = &text[from..to];
            let p = if self.trim { p.trim() } else { p };
            if p == "\\N" {
                b.append_null();
            } else {
                b.append_value(p);
            }
        }
        out.rows += 1;
    }

    /// Quote-aware splitting. Returns how many bytes were consumed.
    fn split_quoted(&mut self, buf: &[u8], last: bool, out: &mut Builders) -> usize {
        let q = self.enclose.unwrap_or(b'"');
        let mut pos = 0;
        let mut row_start = 0;
        let mut fields: Vec<Option<Vec<u8>>> = vec![];
        let mut cur: Vec<u8> = vec![];
        let mut quoted = false;
        let mut in_quotes = false;
        // Whether `cur` starts with a kept `\` of an escaped `N` (see below).
        let mut kept_escape = false;
        let at = |buf: &[u8], i: usize, pat: &[u8]| {
            buf.len() >= i + pat.len() && &buf[i..i + pat.len()] == pat
        };
        while pos < buf.len() {
            let c = buf[pos];
            if in_quotes {
                if Some(c) == self.escape && pos + 1 < buf.len() {
                    cur.push(buf[pos + 1]);
                    pos += 2;
                    continue;
                }
                if c == q {
                    if pos + 1 < buf.len() && buf[pos + 1] == q {
                        cur.push(q);
                        pos += 2;
                        continue;
                    }
                    if pos + 1 == buf.len() && !last {
                        // Cannot tell a closing quote from a doubled one yet.
                        return row_start;
                    }
                    in_quotes = false;
                    pos += 1;
                    continue;
                }
                cur.push(c);
                pos += 1;
                continue;
            }
            if c == q && cur.is_empty() && !quoted {
                in_quotes = true;
                quoted = true;
                pos += 1;
                continue;
            }
            let at_sep = at(buf, pos, &self.sep);
            if at_sep || at(buf, pos, &self.delim) {
                fields.push(field_value(
                    std::mem::take(&mut cur),
                    quoted,
                    self.trim,
                    &mut kept_escape,
                ));
                quoted = false;
                if at_sep {
                    pos += self.sep.len();
                } else {
                    self.quoted_row(&buf[row_start..pos], std::mem::take(&mut fields), out);
                    pos += self.delim.len();
                    row_start = pos;
                }
                continue;
            }
            if Some(c) == self.escape && pos + 1 < buf.len() {
                if cur.is_empty() && c == b'\\' && buf[pos + 1] == b'N' {
                    // Keep `\N` whole: alone and unquoted it is the NULL marker.
                    cur.push(c);
                    kept_escape = true;
                }
                cur.push(buf[pos + 1]);
                pos += 2;
                continue;
            }
            cur.push(c);
            pos += 1;
        }
        if last && row_start < buf.len() {
            if in_quotes {
                out.bad.push(bad(
                    &buf[row_start..],
                    "unterminated enclosed field".to_string(),
                ));
            } else {
                fields.push(field_value(cur, quoted, self.trim, &mut kept_escape));
                self.quoted_row(&buf[row_start..], fields, out);
            }
            return buf.len();
        }
        if last { buf.len() } else { row_start }
    }

    fn quoted_row(&mut self, raw: &[u8], mut fields: Vec<Option<Vec<u8>>>, out: &mut Builders) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if raw.is_empty() {
            return;
        }
        if fields.len() == self.fields + 1
            && fields.last().is_some_and(|f| f.as_deref() == Some(b""))
        {
            fields.pop();
        }
        if fields.len() != self.fields {
            out.bad.push(bad(
                raw,
                format!(
                    "Value count does not match column count. Expect {}, but got {}",
                    self.fields,
                    fields.len()
                ),
            ));
            return;
        }
        let mut texts = Vec::with_capacity(fields.len());
        for f in fields {
            match f {
                None => texts.push(None),
                Some(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => texts.push(Some(s)),
                    Err(_) => {
                        out.bad
                            .push(bad(raw, "the row is not valid UTF-8".to_string()));
                        return;
                    }
                },
            }
        }
        for (b, t) in out.cols.iter_mut().zip(texts) {
            match t {
                None => b.append_null(),
                Some(s) => b.append_value(s),
            }
        }
        out.rows += 1;
    }
}

fn field_value(
    mut bytes: Vec<u8>,
    quoted: bool,
    trim: bool,
    kept_escape: &mut bool,
) -> Option<Vec<u8>> {
    if !quoted && bytes == b"\\N" {
        *kept_escape = false;
        return None;
    }
    if std::mem::take(kept_escape) {
        // An escaped `N` that is not the whole field is just an `N`.
        bytes.remove(0);
    }

    if trim && !quoted {
        let s = bytes.trim_ascii();
        return Some(s.to_vec());
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};

    fn cell(s: &Split, col: usize, row: usize) -> Option<String> {
        let a = s.columns[col].as_string::<i32>();
        (!a.is_null(row)).then(|| a.value(row).to_string())
    }

    #[test]
    fn dbgen_rows_across_chunks() {
        let mut sp = CsvSplitter::new(b"|".to_vec(), b"\n".to_vec(), None, None, false, 3, 0);
        let a = sp.push(b"1|x|\\N|\n2|y", false);
        assert_eq!(a.rows, 1);
        assert_eq!(cell(&a, 2, 0), None);
        let b = sp.push(b"|z|\n3|w|v", true);
        assert_eq!(b.rows, 2);
        assert_eq!(cell(&b, 0, 0).as_deref(), Some("2"));
        assert_eq!(cell(&b, 2, 1).as_deref(), Some("v"));
    }

    #[test]
    fn bad_rows_and_multichar_separators() {
        let mut sp = CsvSplitter::new(b"||".to_vec(), b"\r\n".to_vec(), None, None, true, 2, 1);
        let s = sp.push(b"a||b\r\n 1 || 2 \r\nonly\r\n\xff||x\r\n", true);
        assert_eq!(s.rows, 1);
        assert_eq!(cell(&s, 0, 0).as_deref(), Some("1"));
        assert_eq!(cell(&s, 1, 0).as_deref(), Some("2"));
        assert_eq!(s.bad.len(), 2);
        assert!(s.bad[0].reason.contains("Expect 2, but got 1"));
        assert!(s.bad[1].reason.contains("UTF-8"));
    }

    #[test]
    fn enclosed_fields() {
        let mut sp = CsvSplitter::new(
            b",".to_vec(),
            b"\n".to_vec(),
            Some(b'"'),
            Some(b'\\'),
            false,
            3,
            0,
        );
        let s = sp.push(
            b"1,\"a,b\",\"say \"\"hi\"\"\"\n2,\"multi\nline\",\"e\\\"x\"\n3,\\N,\"",
            false,
        );
        assert_eq!(s.rows, 2);
        assert_eq!(cell(&s, 1, 0).as_deref(), Some("a,b"));
        assert_eq!(cell(&s, 2, 0).as_deref(), Some("say \"hi\""));
        assert_eq!(cell(&s, 1, 1).as_deref(), Some("multi\nline"));
        assert_eq!(cell(&s, 2, 1).as_deref(), Some("e\"x"));
        let s = sp.push(b"\"\n", true);
        assert_eq!(s.rows, 1);
        assert_eq!(cell(&s, 1, 0), None);
        assert_eq!(cell(&s, 2, 0).as_deref(), Some(""));
    }
}
