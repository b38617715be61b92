//! Table rows on Arrow Flight: scans stream out of a backend with DoGet, writes stream into
//! one with DoPut.
//!
//! A scan's stream ends with its [`pb::ScanStats`] in the `app_metadata` of its last
//! message. A write's messages carry their tablet id (8 bytes, little endian) in
//! `app_metadata`; its first message carries the [`pb::OpenWriteRequest`] as the
//! descriptor's command, and the answer is one `PutResult` holding a [`pb::WriteSummary`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_flight::decode::{DecodedPayload, FlightDataDecoder};
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightData, FlightDescriptor, PutResult, SchemaAsIpc};
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::{
    DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions,
};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use rigel_be_api::wire::bad_message;
use rigel_be_api::{ScanCounters, ScanStream, SinkSummary, TabletWriter, pb};
use rigel_common::ids::TabletId;
use rigel_common::{ErrorCode, SqlError};
use tonic::Status;

use crate::status::{from_status, to_status};

/// The status of a Flight error: ours keep their code, others become bad messages.
fn flight_status(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(s) => *s,
        other => to_status(&bad_message(other)),
    }
}

/// The error of a Flight error from `peer`.
pub(crate) fn flight_error(e: FlightError, peer: &str) -> SqlError {
    match e {
        FlightError::Tonic(s) => from_status(&s, peer),
        FlightError::ExternalError(e) => match e.downcast::<SqlError>() {
            Ok(e) => *e,
            Err(e) => bad_message(format!("from {peer}: {e}")),
        },
        other => bad_message(format!("from {peer}: {other}")),
    }
}

/// Server side of DoGet: the scan's batches as Flight data, its counters on the last
/// message.
pub(crate) fn encode_scan(scan: ScanStream) -> BoxStream<'static, Result<FlightData, Status>> {
    let ScanStream {
        schema,
        batches,
        counters,
    } = scan;
    let batches = batches.map_err(|e| FlightError::Tonic(Box::new(to_status(&e))));
    let encoded = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map_err(flight_status);
    // Hold one message back: when the scan ends, the last one gets the counters.
    let state = (encoded.boxed(), None::<FlightData>, counters, false);
    futures::stream::unfold(state, |(mut inner, held, counters, done)| async move {
        if done {
            return None;
        }
        match inner.next().await {
            Some(Ok(next)) => match held {
                Some(prev) => Some((Ok(prev), (inner, Some(next), counters, false))),
                None => {
                    // Nothing to send yet: hold this one and read the next.
                    let state = (inner, Some(next), counters, false);
                    Some((Err(None), state))
                }
            },
            Some(Err(e)) => Some((Err(Some(e)), (inner, None, counters, true))),
            None => {
                let stats = pb::ScanStats {
                    rows: counters.rows.load(Ordering::Relaxed),
                    bytes: counters.bytes.load(Ordering::Relaxed),
                };
                let last = held
                    .unwrap_or_default()
                    .with_app_metadata(stats.encode_to_vec());
                Some((Ok(last), (inner, None, counters, true)))
            }
        }
    })
    .filter_map(|item| async move {
        match item {
            Ok(data) => Some(Ok(data)),
            Err(Some(status)) => Some(Err(status)),
            Err(None) => None,
        }
    })
    .boxed()
}

/// Client side of DoGet: batches, with the counters filled in from the last message.
pub(crate) fn decode_scan(
    data: impl Stream<Item = Result<FlightData, Status>> + Send + 'static,
    schema: SchemaRef,
    peer: String,
) -> ScanStream {
    let counters = Arc::new(ScanCounters::default());
    let decoder = FlightDataDecoder::new(data.map_err(|s| FlightError::Tonic(Box::new(s))));
    let sink = Arc::clone(&counters);
    let batches = decoder
        .filter_map(move |item| {
            let counters = Arc::clone(&sink);
            let peer = peer.clone();
            async move {
                let decoded = match item {
                    Ok(d) => d,
                    Err(e) => return Some(Err(flight_error(e, &peer))),
                };
                if !decoded.inner.app_metadata.is_empty() {
                    match pb::ScanStats::decode(decoded.inner.app_metadata.as_ref()) {
                        Ok(stats) => {
                            counters.rows.store(stats.rows, Ordering::Relaxed);
                            counters.bytes.store(stats.bytes, Ordering::Relaxed);
                        }
                        Err(e) => return Some(Err(bad_message(format!("scan stats: {e}")))),
                    }
                }
                match decoded.payload {
                    DecodedPayload::RecordBatch(b) => Some(Ok(b)),
                    DecodedPayload::Schema(_) | DecodedPayload::None => None,
                }
            }
        })
        .boxed();
    ScanStream {
        schema,
        batches,
        counters,
    }
}

/// Encodes the batches of a write, each tagged with its tablet.
pub(crate) struct WriteEncoder {
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    options: IpcWriteOptions,
    context: IpcWriteContext,
}

impl WriteEncoder {
    pub(crate) fn new() -> Self {
        Self {
            generator: IpcDataGenerator::default(),
            tracker: DictionaryTracker::new(false),
            options: IpcWriteOptions::default(),
            context: IpcWriteContext::default(),
        }
    }

    /// The first message: the request and the schema.
    pub(crate) fn open(&self, request: &pb::OpenWriteRequest, schema: &SchemaRef) -> FlightData {
        let mut data = FlightData::from(SchemaAsIpc::new(schema, &self.options));
        data.flight_descriptor = Some(FlightDescriptor::new_cmd(request.encode_to_vec()));
        data
    }

    /// The messages of one batch of `tablet`.
    pub(crate) fn batch(
        &mut self,
        tablet: TabletId,
        batch: &RecordBatch,
    ) -> Result<Vec<FlightData>, SqlError> {
        let (dictionaries, encoded) = self
            .generator
            .encode(batch, &mut self.tracker, &self.options, &mut self.context)
            .map_err(|e| SqlError::internal(format!("cannot encode rows: {e}")))?;
        let mut out: Vec<FlightData> = dictionaries.into_iter().map(FlightData::from).collect();
        out.push(FlightData::from(encoded).with_app_metadata(tablet.0.to_le_bytes().to_vec()));
        Ok(out)
    }
}

/// Server side of DoPut: reads the request, then feeds every batch to the writer the
/// request opens, on a blocking thread, and finishes it when the stream ends.
pub(crate) async fn receive_write<F, Fut>(
    mut input: tonic::Streaming<FlightData>,
    open: F,
) -> Result<PutResult, SqlError>
where
    F: FnOnce(pb::OpenWriteRequest) -> Fut,
    Fut: Future<Output = Result<Box<dyn TabletWriter>, SqlError>>,
{
    let first = input
        .message()
        .await
        .map_err(|s| from_status(&s, "the writing node"))?
        .ok_or_else(|| bad_message("an empty write"))?;
    let descriptor = first
        .flight_descriptor
        .as_ref()
        .ok_or_else(|| bad_message("a write without its descriptor"))?;
    let request = pb::OpenWriteRequest::decode(descriptor.cmd.as_ref()).map_err(bad_message)?;
    let writer = open(request).await?;
    let data = futures::stream::once(async move { Ok(first) }).chain(input);
    let mut decoder = FlightDataDecoder::new(data.map_err(|s| FlightError::Tonic(Box::new(s))));

    // Routing, sorting and encoding are CPU work: the writer runs on its own thread.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(TabletId, RecordBatch)>(4);
    let worker = tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        for (tablet, batch) in rx {
            writer.write(tablet, batch)?;
        }
        Ok::<_, SqlError>(writer)
    });
    let mut fed: Result<(), SqlError> = Ok(());
    while let Some(item) = decoder.next().await {
        let decoded = match item {
            Ok(d) => d,
            Err(e) => {
                fed = Err(flight_error(e, "the writing node"));
                break;
            }
        };
        let DecodedPayload::RecordBatch(batch) = decoded.payload else {
            continue;
        };
        let Ok(id) = <[u8; 8]>::try_from(decoded.inner.app_metadata.as_ref()) else {
            fed = Err(bad_message("a batch without its tablet"));
            break;
        };
        if tx.send((TabletId(u64::from_le_bytes(id)), batch)).is_err() {
            // The writer failed; its error is below.
            break;
        }
    }
    drop(tx);
    let writer = worker
        .await
        .map_err(|e| SqlError::internal(format!("write task failed: {e}")))??;
    // A broken stream discards the write (the writer is dropped unfinished).
    fed?;
    let summary = writer.finish().await?;
    Ok(PutResult {
        app_metadata: Bytes::from(pb::WriteSummary::from(&summary).encode_to_vec()),
    })
}

/// Decodes the answer of a DoPut.
pub(crate) fn write_summary(result: Option<PutResult>) -> Result<SinkSummary, SqlError> {
    let result = result.ok_or_else(|| {
        SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            "the backend closed a write without answering",
        )
    })?;
    let summary = pb::WriteSummary::decode(result.app_metadata.as_ref()).map_err(bad_message)?;
    Ok(SinkSummary::from(&summary))
}
