//! The catalog on disk: what is committed survives a reopen, with or without a checkpoint in
//! between, ids are never handed out twice, and a damaged journal is an error, not a panic.

use std::path::Path;

use rigel_common::ids::DbId;

use super::*;

fn create_db(id: u64, name: &str) -> JournalEntry {
    JournalEntry::CreateDatabase {
        id: DbId(id),
        name: name.into(),
        created_ms: 7,
    }
}

fn image(catalog: &Catalog) -> serde_json::Value {
    serde_json::to_value(&*catalog.read()).expect("the state serializes")
}

fn names(catalog: &Catalog) -> Vec<String> {
    let mut n: Vec<String> = catalog
        .read()
        .databases
        .values()
        .map(|d| d.name.clone())
        .collect();
    n.sort();
    n
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

async fn commit(catalog: &Catalog, entries: Vec<JournalEntry>) {
    catalog
        .writer()
        .await
        .commit(entries)
        .expect("the commit is durable");
}

#[test]
fn a_reopened_catalog_has_every_committed_entry() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let catalog = Catalog::open(dir.path()).unwrap();
        assert_eq!(catalog.journal_id(), 0);
        commit(&catalog, vec![create_db(10, "a"), create_db(11, "b")]).await;
        commit(&catalog, vec![JournalEntry::DropDatabase { id: DbId(10) }]).await;
        commit(&catalog, vec![]).await;
        assert_eq!(catalog.journal_id(), 3);
        let before = image(&catalog);
        drop(catalog);

        let reopened = Catalog::open(dir.path()).unwrap();
        assert_eq!(reopened.journal_id(), 3);
        assert_eq!(image(&reopened), before);
        assert_eq!(names(&reopened), ["b"]);
    });
}

#[test]
fn a_checkpoint_and_the_entries_after_it_replay_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let catalog = Catalog::open(dir.path()).unwrap();
        // Enough entries to pass a checkpoint, and then some.
        let total = journal::CHECKPOINT_EVERY + 25;
        let entries: Vec<JournalEntry> = (0..total)
            .map(|i| JournalEntry::SetGlobalVariable {
                name: "query_timeout".into(),
                value: i.to_string(),
            })
            .collect();
        for chunk in entries.chunks(100) {
            commit(&catalog, chunk.to_vec()).await;
        }
        commit(&catalog, vec![create_db(20, "after_checkpoint")]).await;
        let before = image(&catalog);
        let last = catalog.journal_id();
        assert_eq!(last, total + 1);
        // The checkpoint dropped the entries it covers.
        assert!(catalog.writer().await.guard.journal.entries_held() < 100);
        drop(catalog);

        let reopened = Catalog::open(dir.path()).unwrap();
        assert_eq!(reopened.journal_id(), last);
        assert_eq!(image(&reopened), before);
        assert_eq!(
            reopened
                .read()
                .global_variables
                .get("query_timeout")
                .map(String::as_str),
            Some((total - 1).to_string().as_str())
        );
        // Entries keep their numbers after the checkpoint dropped the ones it covers.
        commit(&reopened, vec![create_db(21, "later")]).await;
        assert_eq!(reopened.journal_id(), last + 1);
    });
}

#[test]
fn ids_are_never_handed_out_twice_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let catalog = Catalog::open(dir.path()).unwrap();
            let mut w = catalog.writer().await;
            for _ in 0..5 {
                let id = w.next_id().unwrap();
                assert!(id > 0);
                assert!(seen.insert(id), "id {id} handed out twice");
            }
        }
        // A restart skips the rest of the reserved batch rather than reuse it.
        let ids: Vec<u64> = seen.into_iter().collect();
        assert!(ids[5] >= ids[0] + ID_BATCH, "{ids:?}");
    });
}

fn corrupt_entry(dir: &Path, entry: u64) {
    const JOURNAL: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("journal");
    let db = redb::Database::create(dir.join("journal.redb")).unwrap();
    let w = db.begin_write().unwrap();
    {
        let mut t = w.open_table(JOURNAL).unwrap();
        t.insert(entry, b"{not json".as_slice()).unwrap();
    }
    w.commit().unwrap();
}

#[test]
fn a_damaged_journal_entry_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let catalog = Catalog::open(dir.path()).unwrap();
        commit(&catalog, vec![create_db(30, "a")]).await;
        commit(&catalog, vec![create_db(31, "b")]).await;
    });
    corrupt_entry(dir.path(), 2);
    let err = Catalog::open(dir.path()).unwrap_err();
    assert!(matches!(err, CatalogError::Meta(_)), "{err:?}");
    assert!(err.to_string().contains("journal entry 2"), "{err}");
}

#[test]
fn a_catalog_dir_that_cannot_be_created_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a_file");
    std::fs::write(&file, b"x").unwrap();
    let err = Catalog::open(&file.join("meta")).unwrap_err();
    assert!(matches!(err, CatalogError::Io(..)), "{err:?}");
}
