//! The routing sink with replicated tablets: every replica gets the rows, a failed backend
//! is dropped while each tablet keeps its write quorum, and is reported.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use rigel_be_api::{
    Backend, BackupRequest, BucketRouting, CompactRequest, CompactSummary, DeleteRequest,
    DeleteSummary, LookupRequest, PartitionRoute, RestoreRequest, ScanStream, SegmentCompression,
    TabletBackup, TabletInfo, TabletMeta, TabletScanStats, WriteQuorum, pb,
};
use rigel_common::ErrorCode;
use rigel_common::ids::PartitionId;
use std::sync::Mutex;

use super::*;

/// How a fake backend behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Healthy,
    /// Its writer cannot be opened.
    Unreachable,
    /// Its writer fails on the first rows.
    FailsWriting,
    /// Its writer fails to prepare.
    FailsPreparing,
}

/// Rows each (backend, tablet) received.
type Received = Arc<Mutex<Vec<(BackendId, TabletId, usize)>>>;

#[derive(Debug)]
struct Fake {
    id: BackendId,
    behaviour: Behaviour,
    received: Received,
}

struct FakeWriter {
    id: BackendId,
    behaviour: Behaviour,
    received: Received,
    tablets: BTreeSet<TabletId>,
}

fn down(id: BackendId) -> SqlError {
    SqlError::new(
        ErrorCode::ER_BACKEND_UNAVAILABLE,
        format!("backend {id} is not alive"),
    )
}

#[async_trait]
impl TabletWriter for FakeWriter {
    fn write(&mut self, tablet: TabletId, batch: RecordBatch) -> Result<(), SqlError> {
        if self.behaviour == FailsWriting {
            return Err(down(self.id));
        }
        self.tablets.insert(tablet);
        self.received
            .lock()
            .expect("the log")
            .push((self.id, tablet, batch.num_rows()));
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<SinkSummary, SqlError> {
        if self.behaviour == FailsPreparing {
            return Err(down(self.id));
        }
        Ok(SinkSummary {
            rows: 0,
            bytes: 1,
            tablets: self.tablets.into_iter().collect(),
            failed: vec![],
        })
    }
}

fn unused<T>() -> Result<T, SqlError> {
    Err(SqlError::internal("not used by the routing sink"))
}

#[async_trait]
impl Backend for Fake {
    async fn create_tablets(&self, _: Vec<TabletMeta>) -> Result<(), SqlError> {
        unused()
    }
    async fn drop_tablets(&self, _: Vec<TabletId>) -> Result<(), SqlError> {
        unused()
    }
    async fn open_writer(
        &self,
        _: TxnId,
        _: Arc<WriteTarget>,
    ) -> Result<Box<dyn TabletWriter>, SqlError> {
        if self.behaviour == Unreachable {
            return Err(down(self.id));
        }
        Ok(Box::new(FakeWriter {
            id: self.id,
            behaviour: self.behaviour,
            received: Arc::clone(&self.received),
            tablets: BTreeSet::new(),
        }))
    }
    async fn publish(&self, _: TxnId, _: HashMap<TabletId, u64>) -> Result<(), SqlError> {
        unused()
    }
    async fn abort(&self, _: TxnId) -> Result<(), SqlError> {
        unused()
    }
    async fn pending_txns(&self) -> Result<Vec<TxnId>, SqlError> {
        unused()
    }
    async fn delete_rows(&self, _: TxnId, _: DeleteRequest) -> Result<DeleteSummary, SqlError> {
        unused()
    }
    async fn compact(&self, _: CompactRequest) -> Result<CompactSummary, SqlError> {
        unused()
    }
    async fn sweep_stale(&self, _: u64) -> Result<usize, SqlError> {
        unused()
    }
    async fn sweep_trash(&self, _: u64) -> Result<usize, SqlError> {
        unused()
    }
    async fn lookup_rows(&self, _: LookupRequest) -> Result<RecordBatch, SqlError> {
        unused()
    }
    async fn describe_scan(
        &self,
        _: Vec<(TabletId, u64)>,
    ) -> Result<Vec<TabletScanStats>, SqlError> {
        unused()
    }
    async fn scan(&self, _: pb::ScanTicket) -> Result<ScanStream, SqlError> {
        unused()
    }
    async fn tablet_infos(&self) -> Result<Vec<TabletInfo>, SqlError> {
        unused()
    }
    async fn prepare_shutdown(&self) -> Result<(), SqlError> {
        unused()
    }
    async fn backup_tablets(&self, _: BackupRequest) -> Result<Vec<TabletBackup>, SqlError> {
        unused()
    }
    async fn restore_tablets(&self, _: RestoreRequest) -> Result<(), SqlError> {
        unused()
    }
}

#[derive(Debug)]
struct Fakes(HashMap<BackendId, Arc<Fake>>);

impl BackendResolver for Fakes {
    fn backend(&self, id: BackendId, _: &str) -> Result<Arc<dyn Backend>, SqlError> {
        self.0
            .get(&id)
            .map(|f| Arc::clone(f) as Arc<dyn Backend>)
            .ok_or_else(|| down(id))
    }
}

/// Backends 1, 2, 3 behaving as given; one table of two tablets (hash of `k`), each with
/// the replicas given.
fn sink_parts(
    behaviours: [Behaviour; 3],
    replicas: [Vec<u64>; 2],
    quorum: WriteQuorum,
) -> (Arc<WriteTarget>, Arc<Fakes>, Received) {
    let received: Received = Arc::default();
    let fakes = (1..=3u64)
        .zip(behaviours)
        .map(|(i, behaviour)| {
            (
                BackendId(i),
                Arc::new(Fake {
                    id: BackendId(i),
                    behaviour,
                    received: Arc::clone(&received),
                }),
            )
        })
        .collect();
    let target = Arc::new(WriteTarget {
        table_id: rigel_common::ids::TableId(1),
        table_name: "t".into(),
        schema: Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)])),
        partition_columns: vec![],
        partitions: vec![PartitionRoute {
            partition_id: PartitionId(2),
            name: "t".into(),
            lower: None,
            upper: None,
            values: None,
            tablets: vec![TabletId(10), TabletId(11)],
            replicas: replicas
                .iter()
                .map(|r| r.iter().map(|&b| BackendId(b)).collect())
                .collect(),
            needed: replicas.iter().map(|r| quorum.needed(r.len())).collect(),
        }],
        buckets: BucketRouting::Hash(vec![0]),
        sort_key: vec![],
        compression: SegmentCompression::Lz4,
        bloom_filter_columns: vec![],
        memory_limit: 0,
        merge: None,
        primary_key: vec![],
        update: None,
    });
    (target, Arc::new(Fakes(fakes)), received)
}

fn rows(n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..n))]).unwrap()
}

async fn load(
    behaviours: [Behaviour; 3],
    replicas: [Vec<u64>; 2],
    quorum: WriteQuorum,
) -> (Result<SinkSummary, SqlError>, Received) {
    let (target, fakes, received) = sink_parts(behaviours, replicas, quorum);
    let placement = (1..=3).map(|i| (BackendId(i), String::new())).collect();
    let outcome = async {
        let mut sink = RoutingSink::open(TxnId(7), target, fakes, placement).await?;
        sink.write(rows(100)).await?;
        Box::new(sink).finish().await
    }
    .await;
    (outcome, received)
}

use Behaviour::*;

/// Rows received by `backend` in all.
fn total(received: &Received, backend: u64) -> usize {
    received
        .lock()
        .expect("the log")
        .iter()
        .filter(|(b, _, _)| *b == BackendId(backend))
        .map(|(_, _, n)| n)
        .sum()
}

#[tokio::test]
async fn every_replica_receives_every_row_of_its_tablet() {
    let (summary, received) = load(
        [Healthy; 3],
        [vec![1, 2, 3], vec![1, 2, 3]],
        WriteQuorum::Majority,
    )
    .await;
    let summary = summary.unwrap();
    assert_eq!(summary.rows, 100);
    assert_eq!(summary.tablets, vec![TabletId(10), TabletId(11)]);
    assert!(summary.failed.is_empty());
    for b in 1..=3 {
        assert_eq!(total(&received, b), 100);
    }
}

#[tokio::test]
async fn a_lost_replica_is_reported_while_the_majority_holds() {
    for lost in [FailsWriting, FailsPreparing, Unreachable] {
        let (summary, received) = load(
            [Healthy, Healthy, lost],
            [vec![1, 2, 3], vec![3, 1, 2]],
            WriteQuorum::Majority,
        )
        .await;
        let summary = summary.unwrap_or_else(|e| panic!("{lost:?}: {e}"));
        assert_eq!(summary.failed, vec![BackendId(3)], "{lost:?}");
        assert_eq!(summary.tablets, vec![TabletId(10), TabletId(11)]);
        assert_eq!(total(&received, 1), 100);
        assert_eq!(total(&received, 2), 100);
    }
}

#[tokio::test]
async fn losing_the_quorum_fails_the_write_naming_a_lost_backend() {
    let (outcome, _) = load(
        [Healthy, FailsWriting, Unreachable],
        [vec![1, 2, 3], vec![1, 2, 3]],
        WriteQuorum::Majority,
    )
    .await;
    let e = outcome.unwrap_err();
    assert_eq!(e.code, ErrorCode::ER_BACKEND_UNAVAILABLE);
    assert!(
        e.message
            .contains("lost the write quorum (1 replicas left, 2 needed)"),
        "{e}"
    );

    // ALL needs every replica; ONE needs one.
    let (outcome, _) = load(
        [Healthy, Healthy, FailsPreparing],
        [vec![1, 2, 3], vec![1, 2, 3]],
        WriteQuorum::All,
    )
    .await;
    assert!(outcome.is_err());
    let (outcome, _) = load(
        [Healthy, FailsWriting, FailsPreparing],
        [vec![1, 2, 3], vec![1, 2, 3]],
        WriteQuorum::One,
    )
    .await;
    assert_eq!(outcome.unwrap().failed, vec![BackendId(2), BackendId(3)]);
}

#[tokio::test]
async fn one_replica_fails_with_its_own_error_and_unused_backends_do_not_matter() {
    let (outcome, _) = load(
        [Healthy, FailsWriting, Healthy],
        [vec![1], vec![2]],
        WriteQuorum::Majority,
    )
    .await;
    let e = outcome.unwrap_err();
    assert_eq!(e.message, "backend 2 is not alive");
    // Backend 3 holds no tablet of the target: it is never asked.
    let (outcome, _) = load(
        [Healthy, Healthy, Unreachable],
        [vec![1], vec![2]],
        WriteQuorum::Majority,
    )
    .await;
    assert!(outcome.unwrap().failed.is_empty());
}
