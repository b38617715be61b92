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
use rigel_common::SqlError;
use rigel_common::convert::{NULL_SPAN, TextColumn};

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
    /// One column per expected field.
    pub columns: Columns,
    /// Rows in `columns`.
    pub rows: usize,
    /// Rows rejected while splitting.
    pub bad: Vec<BadRow>,
}

/// The fields of a split chunk.
#[derive(Debug)]
pub enum Columns {
    /// String arrays (enclosed text, whose fields are unescaped; JSON).
    Arrays(Vec<ArrayRef>),
    /// Where each field lies in the text read (plain delimited text).
    Text(TextFields),
}

impl Columns {
    /// The fields as string arrays.
    pub fn arrays(&self) -> Result<Vec<ArrayRef>, SqlError> {
        match self {
            Columns::Arrays(a) => Ok(a.clone()),
            Columns::Text(t) => (0..t.spans.len())
                .map(|i| Ok(Arc::new(t.column(i).to_strings()?) as ArrayRef))
                .collect(),
        }
    }
}

/// Plain delimited text and its fields' byte ranges, column by column. The text is valid
/// UTF-8 wherever a span points.
#[derive(Debug, Default)]
pub struct TextFields {
    /// The text read (whole rows).
    pub data: Vec<u8>,
    /// Per column, each row's field (`NULL_SPAN` for `\N`).
    spans: Vec<Vec<(u32, u32)>>,
}

impl TextFields {
    /// Column `i`.
    pub fn column(&self, i: usize) -> TextColumn<'_> {
        TextColumn {
            data: &self.data,
            spans: self.spans.get(i).map_or(&[], Vec::as_slice),
        }
    }

    /// Row `row` as text, fields joined by `sep` (for the error log).
    pub fn row_text(&self, row: usize, sep: &str) -> String {
        (0..self.spans.len())
            .map(|i| match self.column(i).get(row) {
                None => "\\N".to_string(),
                Some(v) => String::from_utf8_lossy(v).into_owned(),
            })
            .collect::<Vec<_>>()
            .join(sep)
    }
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
    /// The current row's field boundaries, reused across rows.
    row: Vec<(usize, usize)>,
    /// Rows per byte in the last block (sizes the next block's span vectors).
    density: f64,
}

/// Spans of plain text being split.
struct SpanOut {
    spans: Vec<Vec<(u32, u32)>>,
    rows: usize,
    bad: Vec<BadRow>,
    /// Whether the whole block is valid UTF-8 (else each row is checked).
    valid_utf8: bool,
}

struct Builders {
    cols: Vec<StringBuilder>,
    rows: usize,
    bad: Vec<BadRow>,
}

impl Builders {
    /// Builders for a block of `bytes` bytes.
    fn new(fields: usize, bytes: usize) -> Self {
        let share = bytes / fields.max(1) + 64;
        Self {
            cols: (0..fields)
                .map(|_| StringBuilder::with_capacity(1024, share))
                .collect(),
            rows: 0,
            bad: vec![],
        }
    }

    fn finish(mut self) -> Split {
        Split {
            columns: Columns::Arrays(
                self.cols
                    .iter_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef)
                    .collect(),
            ),
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

/// The longest text one block of plain rows may have: spans are 32-bit offsets.
const MAX_BLOCK: usize = u32::MAX as usize - 1;

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
            row: Vec::with_capacity(fields + 1),
            density: 0.0,
        }
    }

    /// Splits the complete rows of `carry + data`; the last, incomplete row is kept for the
    /// next call. With `last`, the remainder is a row even without a final delimiter.
    pub fn push(&mut self, data: &[u8], last: bool) -> Split {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(data);
        if self.enclose.is_some() {
            let mut out = Builders::new(self.fields, buf.len());
            let consumed = self.split_quoted(&buf, last, &mut out);
            self.carry = buf[consumed..].to_vec();
            return out.finish();
        }
        let mut out = self.span_out(&buf, 0);
        let consumed = self.split_plain(&buf, 0, last, &mut out);
        self.carry = buf[consumed..].to_vec();
        buf.truncate(consumed);
        self.finish_text(buf, out)
    }

    /// Splits `text[start..]`, a block of whole rows (the caller cut it after a row
    /// delimiter, or it is the end of the input), independently of any other block: without
    /// enclosures, blocks can be split on several threads at once. The split keeps `text`.
    pub fn split_rows(&mut self, text: Vec<u8>, start: usize) -> Split {
        debug_assert!(self.enclose.is_none());
        let mut out = self.span_out(&text, start);
        self.split_plain(&text, start, true, &mut out);
        self.finish_text(text, out)
    }

    fn span_out(&self, buf: &[u8], start: usize) -> SpanOut {
        let text = buf.get(start..).unwrap_or_default();
        let rows = (text.len() as f64 * self.density * 1.05) as usize + 16;
        SpanOut {
            spans: (0..self.fields).map(|_| Vec::with_capacity(rows)).collect(),
            rows: 0,
            bad: vec![],
            valid_utf8: std::str::from_utf8(text).is_ok(),
        }
    }

    fn finish_text(&mut self, data: Vec<u8>, out: SpanOut) -> Split {
        if out.rows > 0 && !data.is_empty() {
            self.density = out.rows as f64 / data.len() as f64;
        }
        Split {
            columns: Columns::Text(TextFields {
                data,
                spans: out.spans,
            }),
            rows: out.rows,
            bad: out.bad,
        }
    }

    /// Splits the rows of `buf[start..]`. Returns where the unfinished last row starts (the
    /// end of `buf` when `last`).
    fn split_plain(&mut self, buf: &[u8], start: usize, last: bool, out: &mut SpanOut) -> usize {
        if buf.len() > MAX_BLOCK {
            out.bad.push(bad(
                buf.get(start..).unwrap_or_default(),
                format!("more than {MAX_BLOCK} bytes of text in one block"),
            ));
            return buf.len();
        }
        if let ([sep], [delim]) = (self.sep.as_slice(), self.delim.as_slice())
            && sep != delim
            && self.skip == 0
        {
            return self.split_single_bytes(buf, start, last, (*sep, *delim), out);
        }
        let delim = self.delim.clone();
        let finder = memmem::Finder::new(&delim);
        let mut from = start;
        loop {
            let end = match finder.find(&buf[from..]) {
                Some(i) => from + i,
                None => {
                    if last && from < buf.len() {
                        buf.len()
                    } else {
                        return from;
                    }
                }
            };
            let row_start = from;
            from = (end + delim.len()).min(buf.len());
            if self.skip > 0 {
                self.skip -= 1;
            } else if end > row_start {
                self.row.clear();
                let row = &buf[row_start..end];
                let mut field = 0;
                for i in memmem::find_iter(row, &self.sep) {
                    if i < field {
                        continue;
                    }
                    self.row.push((row_start + field, row_start + i));
                    field = i + self.sep.len();
                }
                self.row.push((row_start + field, end));
                self.finish_row(buf, row_start, end, out);
            }
            if end == buf.len() {
                return buf.len();
            }
        }
    }

    /// The common case, one-byte separator and delimiter: one pass finds both.
    fn split_single_bytes(
        &mut self,
        buf: &[u8],
        start: usize,
        last: bool,
        (sep, delim): (u8, u8),
        out: &mut SpanOut,
    ) -> usize {
        let mut row_start = start;
        let mut field = start;
        self.row.clear();
        for_each_byte2(&buf[start..], sep, delim, |i| {
            let i = start + i;
            self.row.push((field, i));
            field = i + 1;
            if buf[i] == delim {
                if i > row_start {
                    self.finish_row(buf, row_start, i, out);
                }
                self.row.clear();
                row_start = field;
            }
        });
        if row_start < buf.len() && !last {
            return row_start;
        }
        if row_start < buf.len() {
            self.row.push((field, buf.len()));
            self.finish_row(buf, row_start, buf.len(), out);
        }
        buf.len()
    }

    /// Checks the row `buf[start..end]` whose field boundaries are in `self.row`, and adds
    /// its fields to `out` (or it to `out.bad`).
    fn finish_row(&mut self, buf: &[u8], start: usize, end: usize, out: &mut SpanOut) {
        let row = &buf[start..end];
        let fields = &mut self.row;
        if fields.len() == self.fields + 1 && fields.last().is_some_and(|(a, b)| a == b) {
            fields.pop();
        }
        if fields.len() != self.fields {
            let got = fields.len();
            out.bad.push(bad(
                row,
                format!(
                    "Value count does not match column count. Expect {}, but got {got}",
                    self.fields,
                ),
            ));
            return;
        }
        if !out.valid_utf8 && std::str::from_utf8(row).is_err() {
            out.bad
                .push(bad(row, "the row is not valid UTF-8".to_string()));
            return;
        }
        for (col, &(mut from, mut to)) in out.spans.iter_mut().zip(fields.iter()) {
            if self.trim {
                while from < to && buf[from].is_ascii_whitespace() {
                    from += 1;
                }
                while to > from && buf[to - 1].is_ascii_whitespace() {
                    to -= 1;
                }
            }
            // Offsets fit: the block is at most MAX_BLOCK bytes.
            col.push(if &buf[from..to] == b"\\N" {
                NULL_SPAN
            } else {
                (from as u32, to as u32)
            });
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
        // Length of `cur` when the enclosed part of a field closed: with `trim_space`, spaces
        // after it (before the separator) are dropped, not those inside the quotes.
        let mut closed_at = 0;
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
                    closed_at = cur.len();
                    pos += 1;
                    continue;
                }
                cur.push(c);
                pos += 1;
                continue;
            }
            // With `trim_space`, spaces before the opening quote are not part of the field.
            if c == q
                && !quoted
                && (cur.is_empty() || (self.trim && cur.iter().all(u8::is_ascii_whitespace)))
            {
                cur.clear();
                in_quotes = true;
                quoted = true;
                pos += 1;
                continue;
            }
            let at_sep = at(buf, pos, &self.sep);
            if at_sep || at(buf, pos, &self.delim) {
                if quoted && self.trim {
                    trim_after(&mut cur, closed_at);
                }
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
                if quoted && self.trim {
                    trim_after(&mut cur, closed_at);
                }
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

/// Calls `f` with the position of every byte of `hay` equal to `a` or `b`, in order, looking
/// at eight bytes at a time. Fields of delimited text are short: a search that returns at
/// each match (`memchr2`) pays its start-up cost once per field.
#[inline]
fn for_each_byte2(hay: &[u8], a: u8, b: u8, mut f: impl FnMut(usize)) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let (pa, pb) = (ONES * u64::from(a), ONES * u64::from(b));
    // The high bit of each byte of `x` that is zero, and no other bit (no carries cross
    // bytes: `(y & 0x7f) + 0x7f` is at most 0xfe).
    let zero_bytes = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let mut matches = zero_bytes(x ^ pa) | zero_bytes(x ^ pb);
        while matches != 0 {
            f(base + (matches.trailing_zeros() / 8) as usize);
            matches &= matches - 1;
        }
        base += 8;
    }
    for (i, &c) in chunks.remainder().iter().enumerate() {
        if c == a || c == b {
            f(base + i);
        }
    }
}

/// Drops trailing ASCII whitespace from `cur[from..]`.
fn trim_after(cur: &mut Vec<u8>, from: usize) {
    while cur.len() > from && cur.last().is_some_and(u8::is_ascii_whitespace) {
        cur.pop();
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
        let arrays = s.columns.arrays().unwrap();
        let a = arrays[col].as_string::<i32>();
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

    #[test]
    fn trim_space_drops_spaces_around_enclosed_fields() {
        let mut sp = CsvSplitter::new(
            b",".to_vec(),
            b"\n".to_vec(),
            Some(b'"'),
            Some(b'\\'),
            true,
            3,
            0,
        );
        let s = sp.push(b"1, \"a, b \" ,x\n 2 ,\"q\"  , \"\"\n", true);
        assert_eq!(s.rows, 2, "{:?}", s.bad);
        assert_eq!(cell(&s, 0, 0).as_deref(), Some("1"));
        // Spaces inside the quotes stay.
        assert_eq!(cell(&s, 1, 0).as_deref(), Some("a, b "));
        assert_eq!(cell(&s, 2, 0).as_deref(), Some("x"));
        assert_eq!(cell(&s, 0, 1).as_deref(), Some("2"));
        assert_eq!(cell(&s, 1, 1).as_deref(), Some("q"));
        assert_eq!(cell(&s, 2, 1).as_deref(), Some(""));
        // Without trim_space a space before the quote makes the field unquoted.
        let mut sp = CsvSplitter::new(b",".to_vec(), b"\n".to_vec(), Some(b'"'), None, false, 2, 0);
        let s = sp.push(b"1, \"a\"\n", true);
        assert_eq!(cell(&s, 1, 0).as_deref(), Some(" \"a\""));
    }

    /// Every cell of a split, row by row, and the bad rows' reasons.
    fn cells(s: &Split) -> (Vec<Vec<Option<String>>>, Vec<String>) {
        let arrays = s.columns.arrays().unwrap();
        let rows = (0..s.rows)
            .map(|r| (0..arrays.len()).map(|c| cell(s, c, r)).collect())
            .collect();
        (rows, s.bad.iter().map(|b| b.reason.clone()).collect())
    }

    #[test]
    fn one_byte_fast_path_matches_the_general_path() {
        let input: &[u8] =
            b"1|a|b|\n2|\\N| c |\n\n3|x\xff|y\n4|only\n5|\xc3\xa9|\\Nx|\n6|||\n7|7|7";
        for trim in [false, true] {
            // A header line makes the first push take the general path.
            let mut general =
                CsvSplitter::new(b"|".to_vec(), b"\n".to_vec(), None, None, trim, 3, 1);
            let expected = cells(&general.push(&[b"h|h|h\n", input].concat(), true));
            assert_eq!(expected.0.len(), 5, "{expected:?}");
            assert_eq!(expected.1.len(), 2, "{expected:?}");
            for cut in 0..input.len() {
                let mut fast =
                    CsvSplitter::new(b"|".to_vec(), b"\n".to_vec(), None, None, trim, 3, 0);
                let (mut rows, mut reasons) = cells(&fast.push(&input[..cut], false));
                let (r, b) = cells(&fast.push(&input[cut..], true));
                rows.extend(r);
                reasons.extend(b);
                assert_eq!((rows, reasons), expected, "cut at {cut}, trim {trim}");
            }
            let mut whole = CsvSplitter::new(b"|".to_vec(), b"\n".to_vec(), None, None, trim, 3, 0);
            assert_eq!(cells(&whole.split_rows(input.to_vec(), 0)), expected);
        }
    }

    #[test]
    fn byte_pairs_are_found_eight_at_a_time() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for (a, b) in [(b'|', b'\n'), (0, 255), (0x80, 0x7f), (7, 7)] {
            for len in [0, 1, 7, 8, 9, 64, 300] {
                let mut found = vec![];
                for_each_byte2(&hay[..len], a, b, |i| found.push(i));
                let expected: Vec<usize> =
                    (0..len).filter(|&i| hay[i] == a || hay[i] == b).collect();
                assert_eq!(found, expected, "{a} {b} {len}");
            }
        }
    }
}
