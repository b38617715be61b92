//! The state machine, entry by entry: what each entry does, what it must not do, and that
//! the journal form of any sequence replays to the same state.

use std::collections::BTreeSet;

use rigel_common::ColumnType;
use rigel_common::ids::EMBEDDED_BACKEND;
use rigel_sql::KeysType;

use super::*;
use crate::account::{Grant, GrantTarget};
use crate::model::{Column, Distribution, OlapTable, PartitionScheme, Replica, ViewDef};

fn backend(id: u64, port: u16) -> BackendRecord {
    BackendRecord {
        id: BackendId(id),
        host: "127.0.0.1".into(),
        heartbeat_port: port,
        added_ms: 1,
    }
}

fn partition(id: u64, tablets: &[u64], backends: &[u64]) -> Partition {
    let mut p = Partition {
        id: PartitionId(id),
        name: format!("p{id}"),
        lower: None,
        upper: None,
        values: None,
        tablets: tablets.iter().map(|&t| TabletId(t)).collect(),
        replicas: vec![],
        visible_version: 1,
        visible_version_time_ms: 0,
        created_ms: 0,
    };
    if !backends.is_empty() {
        let b: Vec<Vec<BackendId>> = backends.iter().map(|&b| vec![BackendId(b)]).collect();
        p.place(&b);
    }
    p
}

/// A partition whose tablets have several replicas: `replicas[i]` the backends of tablet i.
fn replicated(id: u64, tablets: &[u64], replicas: &[&[u64]]) -> Partition {
    let mut p = partition(id, tablets, &[]);
    let b: Vec<Vec<BackendId>> = replicas
        .iter()
        .map(|r| r.iter().map(|&b| BackendId(b)).collect())
        .collect();
    p.place(&b);
    p
}

fn olap(id: u64, db: u64, name: &str, partitions: Vec<Partition>) -> Table {
    let buckets = partitions.first().map_or(1, |p| p.tablets.len() as u32);
    Table {
        id: TableId(id),
        db_id: DbId(db),
        name: name.into(),
        comment: String::new(),
        kind: TableKind::Olap(OlapTable {
            columns: vec![Column {
                uid: 0,
                name: "k".into(),
                ty: ColumnType::Int,
                nullable: false,
                is_key: true,
                agg: None,
                default: None,
                auto_increment: false,
                comment: String::new(),
                fill: None,
            }],
            keys_type: KeysType::Duplicate,
            partition_scheme: PartitionScheme::Unpartitioned,
            partitions,
            distribution: Distribution::Hash {
                columns: vec!["k".into()],
                buckets,
            },
            order_by: vec![],
            properties: BTreeMap::new(),
            indexes: vec![],
            next_column_uid: 1,
            under_replicated: false,
            statistics: None,
            auto_partition: None,
        }),
        created_ms: 0,
        updated_ms: 0,
    }
}

fn view(id: u64, db: u64, name: &str) -> Table {
    Table {
        id: TableId(id),
        db_id: DbId(db),
        name: name.into(),
        comment: String::new(),
        kind: TableKind::View(ViewDef {
            query: "SELECT 1".into(),
            columns: vec![],
        }),
        created_ms: 0,
        updated_ms: 0,
    }
}

fn create_db(id: u64, name: &str) -> JournalEntry {
    JournalEntry::CreateDatabase {
        id: DbId(id),
        name: name.into(),
        created_ms: 5,
    }
}

fn put(table: Table) -> JournalEntry {
    JournalEntry::PutTable {
        table: Box::new(table),
    }
}

fn commit(txn: u64, table: u64, label: &str, partitions: &[(u64, u64)], at: i64) -> JournalEntry {
    JournalEntry::CommitTxn(CommitRecord {
        txn_id: TxnId(txn),
        db_id: DbId(1),
        table_id: TableId(table),
        label: label.into(),
        partitions: partitions
            .iter()
            .map(|&(p, v)| (PartitionId(p), v))
            .collect(),
        tablets: vec![],
        rows: 10,
        commit_ms: at,
        missed: vec![],
    })
}

fn applied(entries: &[JournalEntry]) -> CatalogState {
    let mut state = CatalogState::default();
    for e in entries {
        state.apply(e);
    }
    state
}

/// The state after `entries`, applied directly and through their journal form, must be
/// the same: returns it after checking.
fn replayed(entries: &[JournalEntry]) -> CatalogState {
    let direct = applied(entries);
    let mut replay = CatalogState::default();
    for e in entries {
        let text = serde_json::to_string(e).unwrap();
        replay.apply(&serde_json::from_str(&text).unwrap());
    }
    assert_eq!(
        serde_json::to_value(&direct).unwrap(),
        serde_json::to_value(&replay).unwrap()
    );
    // The image form (a checkpoint) reads back to the same state too.
    let image: CatalogState =
        serde_json::from_str(&serde_json::to_string(&direct).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&direct).unwrap(),
        serde_json::to_value(&image).unwrap()
    );
    direct
}

fn version(state: &CatalogState, table: u64, partition: u64) -> u64 {
    let t = &state.tables[&TableId(table)];
    let o = t.olap().unwrap();
    o.partitions
        .iter()
        .find(|p| p.id == PartitionId(partition))
        .unwrap()
        .visible_version
}

#[test]
fn membership_applies_and_replays() {
    let entries = vec![
        JournalEntry::SetClusterId { cluster_id: 42 },
        JournalEntry::AddBackend {
            backend: backend(10002, 9050),
        },
        JournalEntry::AddBackend {
            backend: backend(10003, 9051),
        },
        // The cluster id is chosen once.
        JournalEntry::SetClusterId { cluster_id: 7 },
        JournalEntry::DropBackend {
            id: BackendId(10002),
        },
    ];
    let mut state = CatalogState::default();
    for e in &entries {
        state.apply(e);
    }
    assert_eq!(state.cluster_id, 42);
    assert_eq!(state.backends.len(), 1);
    assert_eq!(
        state.backends[&BackendId(10003)].address(),
        "127.0.0.1:9051"
    );

    // The journal form replays to the same state; a state written before membership
    // existed reads as a cluster without backends.
    let text: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let mut replayed = CatalogState::default();
    for t in &text {
        replayed.apply(&serde_json::from_str(t).unwrap());
    }
    assert_eq!(replayed.backends, state.backends);
    assert_eq!(replayed.cluster_id, 42);
    let old: CatalogState = serde_json::from_str(
        r#"{"reserved_ids":5,"databases":{},"tables":{},"global_variables":{},"commits":{}}"#,
    )
    .unwrap();
    assert_eq!((old.cluster_id, old.backends.len()), (0, 0));
}

#[test]
fn reserved_ids_only_grow() {
    let s = replayed(&[
        JournalEntry::ReserveIds { next: 2_000 },
        JournalEntry::ReserveIds { next: 1_000 },
    ]);
    assert_eq!(s.reserved_ids, 2_000);
}

#[test]
fn tables_are_found_by_name_exactly_then_by_a_unique_case_insensitive_match() {
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(10, 1, "Orders", vec![partition(11, &[12], &[])])),
        put(olap(20, 1, "MiXed", vec![partition(21, &[22], &[])])),
        put(olap(30, 1, "mixed", vec![partition(31, &[32], &[])])),
    ]);
    assert_eq!(s.database("db").unwrap().tables.len(), 3);
    assert_eq!(s.table("db", "Orders").unwrap().id, TableId(10));
    assert_eq!(s.table("db", "orders").unwrap().id, TableId(10));
    // Two tables differ only in case: the exact name wins, anything else is ambiguous.
    assert_eq!(s.table("db", "mixed").unwrap().id, TableId(30));
    assert_eq!(s.table("db", "MiXed").unwrap().id, TableId(20));
    assert!(s.table("db", "MIXED").is_none());
    assert!(s.table("nodb", "Orders").is_none());
    assert!(s.table("db", "missing").is_none());
}

#[test]
fn a_table_put_again_under_a_new_name_is_renamed() {
    let t = olap(10, 1, "a", vec![partition(11, &[12], &[])]);
    let mut renamed = t.clone();
    renamed.name = "b".into();
    let s = replayed(&[create_db(1, "db"), put(t), put(renamed)]);
    let db = s.database("db").unwrap();
    assert_eq!(db.tables.keys().collect::<Vec<_>>(), ["b"]);
    assert!(s.table("db", "a").is_none());
    assert_eq!(s.tables.len(), 1);
}

#[test]
fn a_table_put_into_another_database_moves() {
    let t = olap(10, 1, "t", vec![partition(11, &[12], &[])]);
    let mut moved = t.clone();
    moved.db_id = DbId(2);
    let s = replayed(&[create_db(1, "a"), create_db(2, "b"), put(t), put(moved)]);
    assert!(s.table("a", "t").is_none());
    assert_eq!(s.table("b", "t").unwrap().db_id, DbId(2));
}

#[test]
fn dropped_tables_go_to_the_recycle_bin_views_do_not() {
    let entries = [
        create_db(1, "db"),
        put(olap(10, 1, "t", vec![partition(11, &[12, 13], &[])])),
        put(view(20, 1, "v")),
        JournalEntry::DropTable {
            id: TableId(10),
            dropped_ms: 100,
        },
        JournalEntry::DropTable {
            id: TableId(20),
            dropped_ms: 100,
        },
    ];
    let s = replayed(&entries);
    assert!(s.tables.is_empty());
    assert!(s.database("db").unwrap().tables.is_empty());
    assert_eq!(s.recycled_tables.keys().collect::<Vec<_>>(), [&TableId(10)]);
    assert_eq!(s.recycled_tables[&TableId(10)].1, 100);
    // The recycled table's tablets are still the catalog's: no sweep may delete them.
    assert_eq!(
        s.all_tablets(),
        [TabletId(12), TabletId(13)].into_iter().collect()
    );

    // RECOVER brings it back under its name; dropping it again and purging forgets it.
    let mut more = entries.to_vec();
    more.push(JournalEntry::RecoverTable { id: TableId(10) });
    let s = replayed(&more);
    assert_eq!(s.table("db", "t").unwrap().id, TableId(10));
    assert!(s.recycled_tables.is_empty());
    more.push(JournalEntry::DropTable {
        id: TableId(10),
        dropped_ms: 200,
    });
    more.push(JournalEntry::PurgeTable { id: TableId(10) });
    let s = replayed(&more);
    assert!(s.tables.is_empty() && s.recycled_tables.is_empty());
    assert!(s.all_tablets().is_empty());
}

#[test]
fn a_table_recovered_after_its_database_was_dropped_stays_in_the_bin() {
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(10, 1, "t", vec![partition(11, &[12], &[])])),
        JournalEntry::DropTable {
            id: TableId(10),
            dropped_ms: 1,
        },
        JournalEntry::DropDatabase { id: DbId(1) },
        JournalEntry::RecoverTable { id: TableId(10) },
    ]);
    assert!(s.tables.is_empty());
    assert!(s.databases.is_empty());
}

#[test]
fn dropping_a_database_drops_its_tables_and_labels() {
    let s = replayed(&[
        create_db(1, "db"),
        create_db(2, "other"),
        put(olap(10, 1, "t", vec![partition(11, &[12], &[])])),
        put(olap(20, 2, "u", vec![partition(21, &[22], &[])])),
        commit(30, 10, "l1", &[(11, 2)], 50),
        JournalEntry::DropDatabase { id: DbId(1) },
    ]);
    assert!(s.database("db").is_none());
    assert_eq!(s.tables.keys().collect::<Vec<_>>(), [&TableId(20)]);
    assert!(!s.labels.contains_key(&DbId(1)));
    // The commit record stays for publish recovery.
    assert!(s.commits.contains_key(&TxnId(30)));
}

#[test]
fn commits_raise_partition_versions_and_never_lower_them() {
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(
            10,
            1,
            "t",
            vec![partition(11, &[12], &[]), partition(13, &[14], &[])],
        )),
        commit(20, 10, "a", &[(11, 3)], 100),
        // An older commit replayed late must not move a partition back.
        commit(21, 10, "b", &[(11, 2), (13, 2)], 200),
    ]);
    assert_eq!(version(&s, 10, 11), 3);
    assert_eq!(version(&s, 10, 13), 2);
    let p = &s.tables[&TableId(10)].olap().unwrap().partitions[1];
    assert_eq!(p.visible_version_time_ms, 200);
    assert_eq!(s.labels[&DbId(1)]["a"], (TxnId(20), 100));
    assert_eq!(s.labels[&DbId(1)]["b"], (TxnId(21), 200));
    assert_eq!(s.commits.len(), 2);
}

#[test]
fn a_commit_for_a_dropped_table_is_remembered_but_changes_no_table() {
    let s = replayed(&[create_db(1, "db"), commit(20, 99, "", &[(11, 3)], 100)]);
    assert!(s.tables.is_empty());
    assert!(s.commits.contains_key(&TxnId(20)));
    // Loads without a label (INSERT) take no label slot.
    assert!(s.labels.is_empty());
}

#[test]
fn old_labels_are_pruned_and_empty_databases_forgotten() {
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(10, 1, "t", vec![partition(11, &[12], &[])])),
        commit(20, 10, "old", &[(11, 2)], 100),
        commit(21, 10, "new", &[(11, 3)], 300),
        JournalEntry::PruneLabels { before_ms: 200 },
    ]);
    assert_eq!(s.labels[&DbId(1)].keys().collect::<Vec<_>>(), ["new"]);
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(10, 1, "t", vec![partition(11, &[12], &[])])),
        commit(20, 10, "old", &[(11, 2)], 100),
        JournalEntry::PruneLabels { before_ms: 200 },
    ]);
    assert!(s.labels.is_empty());
    // The version a pruned label committed stays.
    assert_eq!(version(&s, 10, 11), 2);
}

#[test]
fn recent_commits_are_bounded() {
    let mut state = CatalogState::default();
    for txn in 0..(RECENT_COMMITS as u64 + 10) {
        state.apply(&commit(txn, 1, "", &[], 0));
    }
    assert_eq!(state.commits.len(), RECENT_COMMITS);
    // The oldest go first.
    assert_eq!(state.commits.keys().next(), Some(&TxnId(10)));
}

#[test]
fn recycled_partitions_keep_their_tablets_until_forgotten() {
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(10, 1, "t", vec![partition(11, &[12], &[10002])])),
        JournalEntry::RecyclePartition {
            table_id: TableId(10),
            partition: Box::new(partition(13, &[14, 15], &[10003, 10003])),
            dropped_ms: 7,
        },
    ]);
    assert_eq!(s.recycled_partitions[&PartitionId(13)].0, TableId(10));
    assert_eq!(s.recycled_partitions[&PartitionId(13)].2, 7);
    let placement = s.tablet_placement();
    assert!(placement.contains(&(TabletId(12), BackendId(10002))));
    assert!(placement.contains(&(TabletId(15), BackendId(10003))));
    assert_eq!(s.tablets_per_backend()[&BackendId(10003)], 2);
    let s = replayed(&[
        JournalEntry::RecyclePartition {
            table_id: TableId(10),
            partition: Box::new(partition(13, &[14], &[])),
            dropped_ms: 7,
        },
        JournalEntry::ForgetPartition {
            id: PartitionId(13),
        },
    ]);
    assert!(s.recycled_partitions.is_empty());
    assert!(s.all_tablets().is_empty());
}

#[test]
fn tablets_without_recorded_placement_are_on_the_embedded_backend() {
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(10, 1, "old", vec![partition(11, &[12, 13], &[])])),
        put(olap(
            20,
            1,
            "placed",
            vec![partition(21, &[22, 23, 24], &[10002, 10003, 10002])],
        )),
    ]);
    let counts = s.tablets_per_backend();
    assert_eq!(counts[&EMBEDDED_BACKEND], 2);
    assert_eq!(counts[&BackendId(10002)], 2);
    assert_eq!(counts[&BackendId(10003)], 1);
    let p = &s.tables[&TableId(20)].olap().unwrap().partitions[0];
    assert_eq!(
        p.tablet_backends(),
        [
            vec![BackendId(10002)],
            vec![BackendId(10003)],
            vec![BackendId(10002)]
        ]
    );
}

#[test]
fn every_replica_is_placed_and_counted() {
    let s = replayed(&[
        create_db(1, "db"),
        put(olap(
            10,
            1,
            "t",
            vec![replicated(
                11,
                &[12, 13],
                &[&[10001, 10002, 10003], &[10002, 10003, 10004]],
            )],
        )),
    ]);
    let placement = s.tablet_placement();
    assert_eq!(placement.len(), 6);
    assert!(placement.contains(&(TabletId(13), BackendId(10004))));
    let counts = s.tablets_per_backend();
    assert_eq!(counts[&BackendId(10001)], 1);
    assert_eq!(counts[&BackendId(10002)], 2);
    assert_eq!(counts[&BackendId(10004)], 1);
}

#[test]
fn a_commit_marks_the_replicas_it_missed_from_its_version_on() {
    let table = olap(
        10,
        1,
        "t",
        vec![replicated(
            11,
            &[12, 13],
            &[&[10001, 10002, 10003], &[10001, 10002, 10003]],
        )],
    );
    let mut first = commit(100, 10, "a", &[(11, 2)], 1);
    if let JournalEntry::CommitTxn(r) = &mut first {
        r.missed = vec![
            (TabletId(12), BackendId(10003)),
            (TabletId(13), BackendId(10003)),
        ];
    }
    let mut second = commit(101, 10, "b", &[(11, 3)], 2);
    if let JournalEntry::CommitTxn(r) = &mut second {
        r.missed = vec![
            (TabletId(12), BackendId(10003)),
            (TabletId(12), BackendId(10002)),
        ];
    }
    let entries = [create_db(1, "db"), put(table), first, second];
    let s = replayed(&entries);
    let p = &s.tables[&TableId(10)].olap().unwrap().partitions[0];
    assert_eq!(p.visible_version, 3);
    let missing = |bucket: usize| -> Vec<Option<u64>> {
        p.replicas_of(bucket)
            .iter()
            .map(|r| r.missing_from)
            .collect()
    };
    // 10003 lacks version 2 of both tablets (and keeps that mark after version 3); 10002
    // lacks version 3 of tablet 12 only.
    assert_eq!(missing(0), vec![None, Some(3), Some(2)]);
    assert_eq!(missing(1), vec![None, None, Some(2)]);
    assert!(p.replicas_of(0)[0].is_complete());
}

#[test]
fn accounts_are_keyed_by_name_and_host() {
    let mut alice = UserAccount::new("alice", "%");
    alice.roles = vec!["analyst".into()];
    alice.default_roles = vec!["analyst".into()];
    let local = UserAccount::new("alice", "localhost");
    let s = replayed(&[
        JournalEntry::PutUser {
            user: alice.clone(),
        },
        JournalEntry::PutUser { user: local },
        JournalEntry::DropUser {
            name: "alice".into(),
            host: "localhost".into(),
        },
    ]);
    assert_eq!(s.users.keys().collect::<Vec<_>>(), ["alice@%"]);
    assert_eq!(s.users["alice@%"], alice);
}

#[test]
fn dropping_a_role_takes_it_from_every_account_and_role() {
    let grant = Grant {
        object: GrantTarget::Database("db".into()),
        privileges: BTreeSet::from(["SELECT".to_string()]),
    };
    let mut alice = UserAccount::new("alice", "%");
    alice.roles = vec!["analyst".into(), "loader".into()];
    alice.default_roles = vec!["analyst".into()];
    let s = replayed(&[
        JournalEntry::PutRole {
            role: RoleDef {
                name: "analyst".into(),
                grants: vec![grant.clone()],
                roles: vec![],
            },
        },
        JournalEntry::PutRole {
            role: RoleDef {
                name: "lead".into(),
                grants: vec![],
                roles: vec!["analyst".into(), "loader".into()],
            },
        },
        JournalEntry::PutUser { user: alice },
        JournalEntry::DropRole {
            name: "analyst".into(),
        },
    ]);
    assert!(!s.roles.contains_key("analyst"));
    assert_eq!(s.roles["lead"].roles, ["loader"]);
    assert_eq!(s.users["alice@%"].roles, ["loader"]);
    assert!(s.users["alice@%"].default_roles.is_empty());
}

#[test]
fn global_variables_keep_the_last_value() {
    let s = replayed(&[
        JournalEntry::SetGlobalVariable {
            name: "query_timeout".into(),
            value: "300".into(),
        },
        JournalEntry::SetGlobalVariable {
            name: "query_timeout".into(),
            value: "60".into(),
        },
    ]);
    assert_eq!(s.global_variables["query_timeout"], "60");
}

#[test]
fn repositories_are_created_and_dropped_by_name() {
    let repo = Repository {
        id: 5,
        name: "r".into(),
        location: "file:///tmp/r".into(),
        read_only: false,
        properties: BTreeMap::new(),
        created_ms: 1,
    };
    let s = replayed(&[JournalEntry::PutRepository {
        repository: repo.clone(),
    }]);
    assert_eq!(s.repositories["r"], repo);
    let s = replayed(&[
        JournalEntry::PutRepository { repository: repo },
        JournalEntry::DropRepository { name: "r".into() },
    ]);
    assert!(s.repositories.is_empty());
}

#[test]
fn entries_about_missing_objects_change_nothing() {
    // Replays must be total: an entry whose object is gone is a no-op, not a panic.
    let s = replayed(&[
        JournalEntry::DropDatabase { id: DbId(9) },
        JournalEntry::DropTable {
            id: TableId(9),
            dropped_ms: 1,
        },
        JournalEntry::RecoverTable { id: TableId(9) },
        JournalEntry::PurgeTable { id: TableId(9) },
        JournalEntry::ForgetPartition { id: PartitionId(9) },
        JournalEntry::DropUser {
            name: "x".into(),
            host: "%".into(),
        },
        JournalEntry::DropRole { name: "x".into() },
        JournalEntry::DropRepository { name: "x".into() },
        JournalEntry::DropBackend { id: BackendId(9) },
        // A table whose database is gone is kept by id but reachable by no name.
        put(olap(10, 9, "t", vec![partition(11, &[12], &[])])),
    ]);
    assert!(s.databases.is_empty());
    assert_eq!(s.tables.len(), 1);
    assert!(s.table("db", "t").is_none());
}

#[test]
fn journal_entries_keep_their_wire_names() {
    // The journal is read by later versions: the tag of each entry is part of the format.
    let text = serde_json::to_string(&JournalEntry::ReserveIds { next: 3 }).unwrap();
    assert_eq!(text, r#"{"op":"reserve_ids","next":3}"#);
    let text = serde_json::to_string(&JournalEntry::DropBackend { id: BackendId(4) }).unwrap();
    assert_eq!(text, r#"{"op":"drop_backend","id":4}"#);
    // A drop written before the recycle bin existed has no time.
    let e: JournalEntry = serde_json::from_str(r#"{"op":"drop_table","id":7}"#).unwrap();
    assert!(matches!(e, JournalEntry::DropTable { dropped_ms: 0, .. }));
    // An entry of an unknown kind is an error to the reader, never a silent skip.
    assert!(serde_json::from_str::<JournalEntry>(r#"{"op":"no_such_entry"}"#).is_err());
}

/// `table` in colocation group `group`.
fn grouped(mut table: Table, group: &str) -> Table {
    if let TableKind::Olap(o) = &mut table.kind {
        o.properties
            .insert(crate::COLOCATE_WITH.to_string(), group.to_string());
    }
    table
}

/// The table's OLAP part, with three buckets (as the group's tables of these tests).
fn olap_of(table: &Table) -> OlapTable {
    let mut o = table.olap().cloned().expect("an olap table");
    o.distribution = Distribution::Hash {
        columns: vec!["k".into()],
        buckets: 3,
    };
    o
}

#[test]
fn a_colocation_group_places_buckets_where_its_first_table_has_them() {
    let state = applied(&[
        create_db(1, "d"),
        create_db(2, "e"),
        put(grouped(
            olap(10, 1, "b", vec![partition(11, &[12, 13, 14], &[7, 8, 9])]),
            "g",
        )),
        put(grouped(
            olap(20, 1, "a", vec![partition(21, &[22, 23, 24], &[9, 9, 7])]),
            "g",
        )),
        put(olap(
            30,
            1,
            "free",
            vec![partition(31, &[32, 33, 34], &[8, 8, 8])],
        )),
    ]);
    let ids = |v: &[u64]| v.iter().map(|&b| vec![BackendId(b)]).collect::<Vec<_>>();
    // A new member follows the table with the lowest id, whatever its name.
    let newcomer = grouped(olap(40, 1, "c", vec![]), "g");
    assert_eq!(
        state
            .colocate_sequence(DbId(1), &olap_of(&newcomer))
            .unwrap(),
        Some(ids(&[7, 8, 9]))
    );
    // No group, a group of another database, a group without tablets: free placement.
    let free = olap(41, 1, "f", vec![]);
    assert_eq!(
        state.colocate_sequence(DbId(1), &olap_of(&free)).unwrap(),
        None
    );
    assert_eq!(
        state
            .colocate_sequence(DbId(2), &olap_of(&newcomer))
            .unwrap(),
        None
    );
    let other = grouped(olap(42, 1, "h", vec![]), "h");
    assert_eq!(
        state.colocate_sequence(DbId(1), &olap_of(&other)).unwrap(),
        None
    );
}

#[test]
fn a_table_that_does_not_fit_its_colocation_group_is_refused() {
    let state = applied(&[
        create_db(1, "d"),
        put(grouped(
            olap(10, 1, "b", vec![partition(11, &[12, 13, 14], &[7, 8, 9])]),
            "g",
        )),
    ]);
    // Another bucket count.
    let mut wrong = olap_of(&grouped(olap(20, 1, "a", vec![]), "g"));
    wrong.distribution = Distribution::Hash {
        columns: vec!["k".into()],
        buckets: 4,
    };
    let e = state.colocate_sequence(DbId(1), &wrong).unwrap_err();
    assert!(e.message.contains("same bucket num: 4 should be 3"), "{e}");
    // Another distribution column type.
    let mut wrong = olap_of(&grouped(olap(20, 1, "a", vec![]), "g"));
    wrong.columns[0].ty = ColumnType::BigInt;
    wrong.distribution = Distribution::Hash {
        columns: vec!["k".into()],
        buckets: 3,
    };
    let e = state.colocate_sequence(DbId(1), &wrong).unwrap_err();
    assert!(e.message.contains("same data type"), "{e}");
    // Random distribution.
    let mut wrong = olap_of(&grouped(olap(20, 1, "a", vec![]), "g"));
    wrong.distribution = Distribution::Random { buckets: 3 };
    assert!(state.colocate_sequence(DbId(1), &wrong).is_err());
}

#[test]
fn reads_pick_a_complete_usable_replica_spread_by_bucket() {
    let mut p = replicated(11, &[12, 13, 14], &[&[1, 2, 3], &[1, 2, 3], &[1, 2, 3]]);
    let any = |_: BackendId| true;
    // Bucket b starts at replica b: reads spread over the backends.
    let picked: Vec<_> = (0..3).map(|b| p.read_replica(b, any)).collect();
    assert_eq!(
        picked,
        vec![Some(BackendId(1)), Some(BackendId(2)), Some(BackendId(3))]
    );
    // An incomplete replica and an unusable backend are skipped.
    p.replicas[1][1].missing_from = Some(5);
    let not_three = |b: BackendId| b != BackendId(3);
    assert_eq!(p.read_replica(1, not_three), Some(BackendId(1)));
    assert_eq!(p.read_replica(2, not_three), Some(BackendId(1)));
    // None left.
    p.replicas[0] = vec![Replica {
        backend: BackendId(3),
        missing_from: None,
    }];
    assert_eq!(p.read_replica(0, not_three), None);
}
