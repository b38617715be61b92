use super::*;
use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use rigel_common::ids::{PartitionId, TableId};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]))
}

fn batch(values: Vec<i64>) -> RecordBatch {
    RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(values))]).unwrap()
}

fn tablet(id: u64) -> TabletMeta {
    TabletMeta {
        tablet_id: TabletId(id),
        table_id: TableId(1),
        partition_id: PartitionId(1),
        created_ms: 0,
        primary_key: vec![],
        persistent_index: false,
    }
}

fn write(engine: &StorageEngine, txn: u64, tablet: u64, values: Vec<i64>) -> RowsetMeta {
    let mut w = engine
        .rowset_writer(
            TxnId(txn),
            TabletId(tablet),
            schema(),
            SegmentOptions::default(),
        )
        .unwrap();
    w.write(batch(values)).unwrap();
    w.finish().unwrap().unwrap()
}

#[test]
fn prepare_publish_read() {
    let dir = tempfile::tempdir().unwrap();
    let engine = StorageEngine::open(dir.path(), StorageOptions::default()).unwrap();
    engine.create_tablets(&[tablet(1), tablet(2)]).unwrap();
    let r1 = write(&engine, 10, 1, vec![1, 2]);
    let r2 = write(&engine, 10, 2, vec![3]);
    engine.prepare_txn(TxnId(10), vec![r1, r2]).unwrap();
    assert!(engine.read_view(TabletId(1), 100).unwrap().is_empty());
    engine
        .publish_txn(
            TxnId(10),
            &HashMap::from([(TabletId(1), 2), (TabletId(2), 2)]),
        )
        .unwrap();
    assert_eq!(engine.read_view(TabletId(1), 2).unwrap().len(), 1);
    assert!(engine.read_view(TabletId(1), 1).unwrap().is_empty());
    // Publishing again is a no-op.
    engine.publish_txn(TxnId(10), &HashMap::new()).unwrap();
}

#[test]
fn a_rewrite_replaces_rowsets_from_its_version_on() {
    let dir = tempfile::tempdir().unwrap();
    let publish = |engine: &StorageEngine, txn: u64, version: u64| {
        engine
            .publish_txn(TxnId(txn), &HashMap::from([(TabletId(1), version)]))
            .unwrap()
    };
    {
        let engine = StorageEngine::open(dir.path(), StorageOptions::default()).unwrap();
        engine.create_tablets(&[tablet(1)]).unwrap();
        for (txn, values) in [(1, vec![1, 2]), (2, vec![3])] {
            let r = write(&engine, txn, 1, values);
            engine.prepare_txn(TxnId(txn), vec![r]).unwrap();
            publish(&engine, txn, txn + 1);
        }
        let old: Vec<RowsetId> = engine
            .read_view(TabletId(1), 3)
            .unwrap()
            .iter()
            .map(|r| r.rowset_id)
            .collect();
        let mut w = engine
            .rowset_writer(TxnId(3), TabletId(1), schema(), SegmentOptions::default())
            .unwrap();
        w.write(batch(vec![2])).unwrap();
        let rewrite = w.finish_replacing(old).unwrap();
        engine.prepare_txn(TxnId(3), vec![rewrite]).unwrap();
        publish(&engine, 3, 4);
        let rows = |v: u64| -> u64 {
            engine
                .read_view(TabletId(1), v)
                .unwrap()
                .iter()
                .map(|r| r.rows)
                .sum()
        };
        // Readers of older versions keep their snapshot.
        assert_eq!((rows(2), rows(3), rows(4)), (2, 3, 1));
        assert_eq!(engine.tablet_infos()[0].rowsets, 1);
    }
    // The same after a restart.
    let engine = StorageEngine::open(dir.path(), StorageOptions::default()).unwrap();
    let view = engine.read_view(TabletId(1), 4).unwrap();
    assert_eq!(view.iter().map(|r| r.rows).sum::<u64>(), 1);
    assert_eq!(engine.read_view(TabletId(1), 3).unwrap().len(), 2);
}

#[test]
fn a_compaction_finishing_during_a_rewrite_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(StorageEngine::open(dir.path(), StorageOptions::default()).unwrap());
    engine.create_tablets(&[tablet(1)]).unwrap();
    for (txn, values) in [(1, vec![1, 2]), (2, vec![3])] {
        let r = write(&engine, txn, 1, values);
        engine.prepare_txn(TxnId(txn), vec![r]).unwrap();
        engine
            .publish_txn(TxnId(txn), &HashMap::from([(TabletId(1), txn + 1)]))
            .unwrap();
    }
    let old: Vec<RowsetId> = engine
        .read_view(TabletId(1), 3)
        .unwrap()
        .iter()
        .map(|r| r.rowset_id)
        .collect();
    let compacted = |engine: &StorageEngine| {
        let mut w = engine
            .rowset_writer(TxnId(0), TabletId(1), schema(), SegmentOptions::default())
            .unwrap();
        w.write(batch(vec![1, 2, 3])).unwrap();
        w.finish_replacing(old.clone()).unwrap()
    };
    // The rewrite (a DELETE of 3) reads the two rowsets; a compaction of them finishes
    // before the rewrite is prepared and must not make them stale.
    let guard = engine.begin_rewrite(TabletId(1));
    let mut w = engine
        .rowset_writer(TxnId(3), TabletId(1), schema(), SegmentOptions::default())
        .unwrap();
    w.write(batch(vec![1, 2])).unwrap();
    let rewrite = w.finish_replacing(old.clone()).unwrap();
    assert!(!engine.commit_compaction(compacted(&engine), None).unwrap());
    engine.prepare_txn(TxnId(3), vec![rewrite]).unwrap();
    drop(guard);
    engine
        .publish_txn(TxnId(3), &HashMap::from([(TabletId(1), 4)]))
        .unwrap();
    let rows: u64 = engine
        .read_view(TabletId(1), 4)
        .unwrap()
        .iter()
        .map(|r| r.rows)
        .sum();
    assert_eq!(rows, 2);
    // Without a rewrite running, compaction commits again.
    let current: Vec<RowsetId> = engine
        .read_view(TabletId(1), 4)
        .unwrap()
        .iter()
        .map(|r| r.rowset_id)
        .collect();
    let mut w = engine
        .rowset_writer(TxnId(0), TabletId(1), schema(), SegmentOptions::default())
        .unwrap();
    w.write(batch(vec![1, 2])).unwrap();
    let output = w.finish_replacing(current).unwrap();
    assert!(engine.commit_compaction(output, None).unwrap());
}

#[test]
fn dropped_tablets_wait_in_the_trash_until_it_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let engine = StorageEngine::open(dir.path(), StorageOptions::default()).unwrap();
    engine.create_tablets(&[tablet(1)]).unwrap();
    let rs = write(&engine, 1, 1, vec![1, 2, 3]);
    engine.prepare_txn(TxnId(1), vec![rs]).unwrap();
    engine.drop_tablets(&[TabletId(1)]).unwrap();
    let trash = dir.path().join("trash");
    assert_eq!(std::fs::read_dir(&trash).unwrap().count(), 1);
    assert_eq!(engine.sweep_trash(3_600_000).unwrap(), 0, "not expired yet");
    assert_eq!(std::fs::read_dir(&trash).unwrap().count(), 1);
    assert_eq!(engine.sweep_trash(0).unwrap(), 1);
    assert_eq!(std::fs::read_dir(&trash).unwrap().count(), 0);
}

#[test]
fn restart_keeps_published_and_pending_and_drops_orphans() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = StorageEngine::open(dir.path(), StorageOptions::default()).unwrap();
        engine.create_tablets(&[tablet(1)]).unwrap();
        let r1 = write(&engine, 1, 1, vec![1]);
        engine.prepare_txn(TxnId(1), vec![r1]).unwrap();
        engine
            .publish_txn(TxnId(1), &HashMap::from([(TabletId(1), 2)]))
            .unwrap();
        let r2 = write(&engine, 2, 1, vec![2]);
        engine.prepare_txn(TxnId(2), vec![r2]).unwrap();
        // A write that never prepared: its file must disappear at restart.
        let orphan = write(&engine, 3, 1, vec![3]);
        assert!(
            engine
                .segment_path(TabletId(1), &orphan.segments[0].name)
                .exists()
        );
        std::mem::forget(orphan);
    }
    let engine = StorageEngine::open(dir.path(), StorageOptions::default()).unwrap();
    assert_eq!(engine.read_view(TabletId(1), 10).unwrap().len(), 1);
    assert_eq!(engine.pending_txns(), vec![TxnId(2)]);
    let files = std::fs::read_dir(engine.tablet_dir(TabletId(1)))
        .unwrap()
        .count();
    assert_eq!(files, 2);
    engine.abort_txn(TxnId(2)).unwrap();
    assert!(engine.pending_txns().is_empty());
    let files = std::fs::read_dir(engine.tablet_dir(TabletId(1)))
        .unwrap()
        .count();
    assert_eq!(files, 1);
}

#[test]
fn version_limit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = StorageEngine::open(
        dir.path(),
        StorageOptions {
            tablet_max_versions: 1,
        },
    )
    .unwrap();
    engine.create_tablets(&[tablet(1)]).unwrap();
    let r1 = write(&engine, 1, 1, vec![1]);
    engine.prepare_txn(TxnId(1), vec![r1]).unwrap();
    engine
        .publish_txn(TxnId(1), &HashMap::from([(TabletId(1), 2)]))
        .unwrap();
    let r2 = write(&engine, 2, 1, vec![2]);
    assert!(matches!(
        engine.prepare_txn(TxnId(2), vec![r2]),
        Err(Error::TooManyVersions { .. })
    ));
}
