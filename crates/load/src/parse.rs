//! The parser stage of a load: decompress the body, split it into rows and fields, convert
//! them to the table's types.
//!
//! Delimited text without enclosures is cut into blocks that end at a row delimiter, and
//! the blocks are split and converted on several threads at once:
//!
//! ```text
//!  body ──► reader: decompress, cut at the last row delimiter
//!             │ block 0, 2, 4, …        │ block 1, 3, 5, …
//!             ▼                         ▼
//!          worker 0: split, convert   worker 1: split, convert
//!             │                         │
//!             └──► collector: takes results in block order ──► writer
//! ```
//!
//! Blocks go to the workers in turn and the collector takes the results in the same turn,
//! so rows reach the writer in input order (key-ordered input stays key-ordered). Quoted
//! text, whose rows cannot be found without reading every quote, and JSON are parsed on
//! one thread.

use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use bytes::Bytes;
use memchr::memmem;
use rigel_common::SqlError;

use crate::csv::{Columns, CsvSplitter};
use crate::load_error;
use crate::options::{Compression, Format};
use crate::plan::{LoadPlan, Processed};

/// Bytes read from the body at a time.
const BLOCK: usize = 8 << 20;
/// The longest row accepted: a body without a row delimiter in this many bytes is rejected
/// rather than buffered whole.
const MAX_ROW: usize = 256 << 20;
/// JSON bodies are read whole; larger ones need `ignore_json_size: true`.
const MAX_JSON_BODY: usize = 100 << 20;
/// Blocks queued for each worker, and results each worker may hold for the collector.
const WORKER_QUEUE: usize = 2;

/// `Read` over the body chunks arriving on a channel (used from the parser thread).
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

fn decoder(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    c: Option<Compression>,
) -> Result<Box<dyn Read + Send>, String> {
    let raw = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    Ok(match c {
        None => Box::new(raw),
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Some(Compression::Zstd) => {
            Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| format!("zstd: {e}"))?)
        }
        Some(Compression::Lz4) => Box::new(lz4_flex::frame::FrameDecoder::new(raw)),
    })
}

/// Fills `buf` as far as possible; returns the bytes read (0 at the end of the input).
fn read_block(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// How many threads split and convert delimited text.
fn parse_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4)
}

/// The parser stage: reads the body from `rx`, sends one `Processed` per block to `out`,
/// in input order. Stops at the first error (which it sends) or when `out` is closed.
/// Panics of its threads propagate to the caller (which aborts the load).
pub(crate) fn parse_loop(
    plan: Arc<LoadPlan>,
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    out: tokio::sync::mpsc::Sender<Result<Processed, SqlError>>,
) {
    let send = |r: Result<Processed, SqlError>| out.blocking_send(r).is_ok();
    let mut reader = match decoder(rx, plan.options.compression) {
        Ok(r) => r,
        Err(e) => {
            send(Err(load_error(e)));
            return;
        }
    };
    match plan.options.format {
        Format::Json => {
            let mut body = vec![];
            let limit = if plan.options.ignore_json_size {
                usize::MAX
            } else {
                MAX_JSON_BODY
            };
            let r = (&mut reader).take(limit as u64 + 1).read_to_end(&mut body);
            if let Err(e) = r {
                send(Err(load_error(format!("cannot read the body: {e}"))));
                return;
            }
            if body.len() > limit {
                send(Err(load_error(format!(
                    "the JSON body is larger than {} MB; set the header ignore_json_size: true",
                    MAX_JSON_BODY >> 20
                ))));
                return;
            }
            let split = crate::json::split_json(
                &body,
                &plan.source_names,
                plan.options.jsonpaths.as_deref(),
                plan.options.json_root.as_deref(),
                plan.options.strip_outer_array,
            );
            send(
                split
                    .map_err(load_error)
                    .and_then(|mut s| plan.process(&mut s)),
            );
        }
        Format::Csv if plan.options.enclose.is_none() => parallel_csv(&plan, &mut *reader, send),
        Format::Csv => {
            let o = &plan.options;
            let mut splitter = CsvSplitter::new(
                o.column_separator.clone(),
                o.row_delimiter.clone(),
                o.enclose,
                o.escape,
                o.trim_space,
                plan.source_names.len(),
                o.skip_header,
            );
            let mut buf = vec![0u8; BLOCK];
            loop {
                let n = match read_block(&mut reader, &mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        send(Err(load_error(format!("cannot read the body: {e}"))));
                        return;
                    }
                };
                let last = n < buf.len();
                let mut split = splitter.push(&buf[..n], last);
                if !send(plan.process(&mut split)) || last {
                    return;
                }
            }
        }
    }
}

/// A block of whole rows for a worker: the text and where its first row starts (after
/// skipped header lines).
enum Work {
    Rows(Vec<u8>, usize),
    Failed(SqlError),
}

/// Delimited text without enclosures, split and converted on `parse_workers()` threads.
fn parallel_csv(
    plan: &Arc<LoadPlan>,
    reader: &mut (dyn Read + Send),
    send: impl Fn(Result<Processed, SqlError>) -> bool,
) {
    let workers = parse_workers();
    std::thread::scope(|scope| {
        let mut work_txs = Vec::with_capacity(workers);
        let mut result_rxs = Vec::with_capacity(workers);
        // Parsed blocks' buffers go back to the reader instead of being freed and faulted in
        // again.
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(workers * (WORKER_QUEUE + 1));
        for _ in 0..workers {
            let (work_tx, work_rx) = sync_channel::<Work>(WORKER_QUEUE);
            let (result_tx, result_rx) = sync_channel(WORKER_QUEUE);
            let plan = Arc::clone(plan);
            let recycle = recycle_tx.clone();
            scope.spawn(move || parse_worker(&plan, work_rx, result_tx, recycle));
            work_txs.push(work_tx);
            result_rxs.push(result_rx);
        }
        drop(recycle_tx);
        let (delim, skip) = (&plan.options.row_delimiter, plan.options.skip_header);
        scope.spawn(move || {
            let blocks = Blocks {
                delim,
                block: BLOCK,
                recycled: recycle_rx,
            };
            blocks.cut(reader, skip, work_txs)
        });
        // The collector: results in block order. A closed result channel in turn means the
        // input ended (or a worker died, which the scope turns into a panic).
        for turn in (0..workers).cycle() {
            let Ok(result) = result_rxs[turn].recv() else {
                break;
            };
            let failed = result.is_err();
            if !send(result) || failed {
                break;
            }
        }
        // Dropping the result channels stops the workers, and with them the reader.
        drop(result_rxs);
    });
}

fn parse_worker(
    plan: &LoadPlan,
    work: Receiver<Work>,
    results: SyncSender<Result<Processed, SqlError>>,
    recycle: SyncSender<Vec<u8>>,
) {
    let o = &plan.options;
    let mut splitter = CsvSplitter::new(
        o.column_separator.clone(),
        o.row_delimiter.clone(),
        None,
        o.escape,
        o.trim_space,
        plan.source_names.len(),
        0,
    );
    while let Ok(item) = work.recv() {
        let result = match item {
            Work::Rows(text, start) => {
                let mut split = splitter.split_rows(text, start);
                let result = plan.process(&mut split);
                if let Columns::Text(t) = split.columns {
                    let _ = recycle.try_send(t.data);
                }
                result
            }
            Work::Failed(e) => Err(e),
        };
        if results.send(result).is_err() {
            return;
        }
    }
}

/// The reader: decompresses the body and cuts it into blocks of about `block` bytes that
/// end after a row delimiter, handed to the workers in turn.
struct Blocks<'a> {
    delim: &'a [u8],
    block: usize,
    /// Buffers of parsed blocks, to be filled again.
    recycled: Receiver<Vec<u8>>,
}

impl Blocks<'_> {
    /// Reads `reader` to the end (or the first error, which goes to the worker in turn).
    /// The first `skip` lines (the header) are dropped here.
    fn cut(&self, reader: &mut (dyn Read + Send), mut skip: usize, workers: Vec<SyncSender<Work>>) {
        let (delim, block) = (self.delim, self.block);
        let finder = memmem::FinderRev::new(delim);
        let mut carry: Vec<u8> = vec![];
        let mut turn = 0;
        loop {
            // The row left over from the last block, then a block's worth of input. A
            // recycled buffer is already as long as that, or nearly: little to zero-fill.
            let mut buf = self.recycled.try_recv().unwrap_or_default();
            let filled = carry.len();
            buf.resize(filled + block, 0);
            buf[..filled].copy_from_slice(&carry);
            carry.clear();
            let n = match read_block(reader, &mut buf[filled..]) {
                Ok(n) => n,
                Err(e) => {
                    let e = load_error(format!("cannot read the body: {e}"));
                    let _ = workers[turn].send(Work::Failed(e));
                    return;
                }
            };
            buf.truncate(filled + n);
            let last = n < block;
            if !last {
                // Cut after the last row delimiter; a row longer than the block waits for
                // the next read.
                match finder.rfind(&buf) {
                    Some(i) => carry.extend_from_slice(&buf[i + delim.len()..]),
                    None if buf.len() < MAX_ROW => {
                        carry = buf;
                        continue;
                    }
                    None => {
                        let e = load_error(format!(
                            "no row delimiter in {} MB of input: check the row_delimiter header",
                            MAX_ROW >> 20
                        ));
                        let _ = workers[turn].send(Work::Failed(e));
                        return;
                    }
                }
                buf.truncate(buf.len() - carry.len());
            }
            let mut start = 0;
            while skip > 0 && start < buf.len() {
                start = match memmem::find(&buf[start..], delim) {
                    Some(i) => start + i + delim.len(),
                    None => buf.len(),
                };
                skip -= 1;
            }
            if workers[turn].send(Work::Rows(buf, start)).is_err() || last {
                return;
            }
            turn = (turn + 1) % workers.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cuts `input` with the given block size for two workers; returns the blocks in turn.
    fn cut(input: &[u8], delim: &[u8], skip: usize, block: usize) -> Vec<Vec<u8>> {
        let (tx0, rx0) = sync_channel(1000);
        let (tx1, rx1) = sync_channel(1000);
        let mut reader = input;
        // Reused buffers full of stale bytes must not leak into blocks.
        let (recycle, recycled) = sync_channel(8);
        for len in [0, 3, block, 2 * block + 5] {
            recycle.send(vec![b'#'; len]).unwrap();
        }
        let blocks = Blocks {
            delim,
            block,
            recycled,
        };
        blocks.cut(&mut reader, skip, vec![tx0, tx1]);
        let mut blocks = vec![];
        for rx in [&rx0, &rx1].into_iter().cycle() {
            match rx.try_recv() {
                Ok(Work::Rows(text, start)) => blocks.push(text[start..].to_vec()),
                Ok(Work::Failed(e)) => panic!("{e}"),
                Err(_) => break,
            }
        }
        blocks
    }

    #[test]
    fn blocks_end_at_row_delimiters_and_keep_the_order() {
        let input: Vec<u8> = (0..100)
            .map(|i| format!("{i}|row {i}|\n"))
            .collect::<String>()
            .into_bytes();
        for block in [1, 5, 13, 64, 4096] {
            let blocks = cut(&input, b"\n", 0, block);
            assert_eq!(blocks.concat(), input, "block size {block}");
            for b in &blocks[..blocks.len() - 1] {
                assert!(b.is_empty() || b.ends_with(b"\n"), "block size {block}");
            }
        }
    }

    #[test]
    fn multibyte_delimiters_header_and_no_final_delimiter() {
        let input = b"h1\r\nh2\r\na|1\r\nb|2\r\nc|3";
        for block in [1, 2, 3, 7, 100] {
            let blocks = cut(input, b"\r\n", 2, block);
            assert_eq!(blocks.concat(), b"a|1\r\nb|2\r\nc|3", "block size {block}");
            for b in &blocks[..blocks.len() - 1] {
                assert!(b.is_empty() || b.ends_with(b"\r\n"), "block size {block}");
            }
        }
    }
}
