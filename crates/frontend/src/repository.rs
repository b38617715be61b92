//! Backup repositories: CREATE / DROP / SHOW REPOSITORY.
//!
//! A repository names a place snapshots are kept: `file:///path` (a local or mounted
//! directory) or `s3://bucket/path` / `s3a://…` (AWS S3 or any S3-compatible store, with
//! StarRocks' `aws.s3.*` properties). Creating one checks that it can be listed and (unless
//! READ ONLY) written. Credentials given as properties are stored with the repository, never
//! shown by SHOW REPOSITORIES, and masked in the audit log.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_repository::Repository as Repo;

use crate::result::{ResultBuilder, i, s};
use crate::session::Session;
use rigel_catalog::{JournalEntry, Repository};

/// Opens a repository and checks it can be used (listed; written unless `read_only`).
async fn check_location(
    location: &str,
    properties: &BTreeMap<String, String>,
    read_only: bool,
) -> Result<(), SqlError> {
    let repo = Repo::open(location, properties, read_only)?;
    repo.probe(read_only).await?;
    Ok(())
}

impl Session {
    pub(crate) async fn create_repository(
        &mut self,
        name: String,
        read_only: bool,
        location: String,
        properties: Vec<(String, String)>,
    ) -> Result<QueryResult, SqlError> {
        let properties: BTreeMap<String, String> = properties.into_iter().collect();
        check_location(&location, &properties, read_only).await?;
        let mut w = self.fe.catalog().writer().await;
        if w.read().repositories.contains_key(&name) {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                format!("Repository with same name already exist: {name}"),
            ));
        }
        let repository = Repository {
            id: w.next_id()?,
            name,
            location,
            read_only,
            properties,
            created_ms: crate::now_ms(),
        };
        w.commit(vec![JournalEntry::PutRepository { repository }])?;
        Ok(QueryResult::ok())
    }

    pub(crate) async fn drop_repository(&mut self, name: String) -> Result<QueryResult, SqlError> {
        let mut w = self.fe.catalog().writer().await;
        if !w.read().repositories.contains_key(&name) {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                format!("Repository does not exist: {name}"),
            ));
        }
        // The repository's files stay where they are: dropping only forgets the name.
        w.commit(vec![JournalEntry::DropRepository { name }])?;
        Ok(QueryResult::ok())
    }

    /// `SHOW REPOSITORIES` (StarRocks' columns; properties are never shown).
    pub(crate) async fn show_repositories(&self) -> Result<QueryResult, SqlError> {
        let mut b = ResultBuilder::new(&[
            ("RepoId", DataType::Int64),
            ("RepoName", DataType::Utf8),
            ("CreateTime", DataType::Utf8),
            ("IsReadOnly", DataType::Utf8),
            ("Location", DataType::Utf8),
            ("Broker", DataType::Utf8),
            ("ErrMsg", DataType::Utf8),
        ]);
        let repos: Vec<Repository> = self
            .fe
            .catalog()
            .read()
            .repositories
            .values()
            .cloned()
            .collect();
        for r in repos {
            let reachable = check_location(&r.location, &r.properties, true)
                .await
                .err()
                .map(|e| e.message)
                .unwrap_or_else(|| "NULL".to_string());
            b.row(vec![
                i(r.id),
                s(r.name),
                s(crate::show::ms_text(r.created_ms)),
                s(r.read_only.to_string()),
                s(r.location),
                s("-"),
                s(reachable),
            ]);
        }
        b.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_the_location() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("a/b").display());
        let none = BTreeMap::new();
        assert_eq!(
            check_location(&url, &none, true).await.unwrap_err().code,
            ErrorCode::ER_IO_ERROR
        );
        check_location(&url, &none, false).await.unwrap();
        check_location(&url, &none, true).await.unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("a/b")).unwrap().count(),
            0
        );
        let e = check_location("file://relative", &none, false)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ER_WRONG_ARGUMENTS);
        let e = check_location("hdfs://nn/p", &none, false)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ER_NOT_SUPPORTED_YET);
    }
}
