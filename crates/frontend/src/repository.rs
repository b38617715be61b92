//! Backup repositories: CREATE / DROP / SHOW REPOSITORY.
//!
//! A repository names a place snapshots are kept. `file:///path` (a local or mounted
//! directory) is supported; creating one checks that the directory can be written (or, when
//! READ ONLY, read). Object stores (`s3://`, `s3a://`) and HDFS are refused with an honest
//! error until their client lands. Credentials given as properties are stored with the
//! repository, never shown by SHOW REPOSITORIES, and masked in the audit log.

use std::collections::BTreeMap;
use std::path::PathBuf;

use datafusion::arrow::datatypes::DataType;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;

use crate::catalog::{JournalEntry, Repository};
use crate::result::{ResultBuilder, i, s};
use crate::session::Session;

/// Where a repository's files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory of this host (local or mounted).
    Dir(PathBuf),
}

/// Parses a repository location.
pub fn parse_location(url: &str) -> Result<Location, SqlError> {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                format!("Repository location '{url}' must be an absolute path: file:///dir"),
            ));
        }
        return Ok(Location::Dir(PathBuf::from(path)));
    }
    let scheme = url
        .split("://")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let reason = match scheme.as_str() {
        "s3" | "s3a" | "oss" | "gs" | "cos" | "obs" => {
            "object-store repositories are not supported yet; use file:///path (a local or mounted directory)"
        }
        "hdfs" => "HDFS repositories are not supported; use file:///path",
        _ => "expected file:///path",
    };
    Err(SqlError::new(
        ErrorCode::ER_NOT_SUPPORTED_YET,
        format!("Repository location '{url}': {reason}"),
    ))
}

/// Checks that a location is usable: the directory exists or can be created, and can be
/// written (or read, for a read-only repository).
fn check_location(location: &Location, read_only: bool) -> Result<(), SqlError> {
    let Location::Dir(dir) = location;
    let io = |what: &str, e: std::io::Error| {
        SqlError::new(
            ErrorCode::ER_IO_ERROR,
            format!("Repository directory {}: cannot {what}: {e}", dir.display()),
        )
    };
    if read_only {
        std::fs::read_dir(dir).map_err(|e| io("read it", e))?;
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| io("create it", e))?;
    let probe = dir.join(format!(".rigel-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(|e| io("write to it", e))?;
    std::fs::remove_file(&probe).map_err(|e| io("remove a file from it", e))?;
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
        let parsed = parse_location(&location)?;
        {
            let check = parsed.clone();
            tokio::task::spawn_blocking(move || check_location(&check, read_only))
                .await
                .map_err(|e| SqlError::internal(e.to_string()))??;
        }
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
            properties: properties.into_iter().collect::<BTreeMap<_, _>>(),
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
    pub(crate) fn show_repositories(&self) -> Result<QueryResult, SqlError> {
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
            let reachable = parse_location(&r.location)
                .and_then(|l| check_location(&l, true))
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

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("file:///backups/rigel").unwrap(),
            Location::Dir("/backups/rigel".into())
        );
        assert_eq!(
            parse_location("file://relative").unwrap_err().code,
            ErrorCode::ER_WRONG_ARGUMENTS
        );
        let e = parse_location("s3a://bucket/path").unwrap_err();
        assert_eq!(e.code, ErrorCode::ER_NOT_SUPPORTED_YET);
        assert!(e.message.contains("file:///path"));
        assert!(parse_location("ftp://x").is_err());
    }

    #[test]
    fn checks_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Location::Dir(dir.path().join("a/b"));
        assert_eq!(
            check_location(&repo, true).unwrap_err().code,
            ErrorCode::ER_IO_ERROR
        );
        check_location(&repo, false).unwrap();
        check_location(&repo, true).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("a/b")).unwrap().count(),
            0
        );
    }
}
