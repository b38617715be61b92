//! `rigel backup`: backups for cron, over the MySQL protocol.
//!
//! Each action runs the SQL a StarRocks user would (BACKUP / RESTORE / SHOW SNAPSHOT) plus
//! Rigel's VERIFY SNAPSHOT and DROP SNAPSHOT, waits for the job with a progress bar, and
//! exits 0 when it succeeded, 1 when the job failed or a snapshot is corrupt, and 2 when it
//! could not run (connection, arguments).

use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mysql_async::prelude::Queryable;

/// `rigel backup` options.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// MySQL port.
    #[arg(long, default_value_t = 9030, global = true)]
    pub port: u16,
    /// User (needs the OPERATE privilege).
    #[arg(long, default_value = "root", global = true)]
    pub user: String,
    /// Password (or the RIGEL_PASSWORD environment variable).
    #[arg(long, env = "RIGEL_PASSWORD", default_value = "", global = true)]
    pub password: String,
    /// Repository (CREATE REPOSITORY) to use.
    #[arg(long, default_value = "backups", global = true)]
    pub repo: String,
    /// No progress bar (for logs).
    #[arg(long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `rigel backup` actions.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// Back up a database, sending every file.
    Full(SnapshotArgs),
    /// Back up a database, sending only files the repository does not hold yet.
    Incremental(SnapshotArgs),
    /// Restore a snapshot (the newest of its name unless --timestamp).
    Restore(RestoreArgs),
    /// Read every file of a snapshot (or of all) and check its checksum.
    Verify {
        /// Snapshot name; all snapshots when absent.
        #[arg(long)]
        snapshot: Option<String>,
        /// Its timestamp (the newest of the name when absent).
        #[arg(long)]
        timestamp: Option<String>,
    },
    /// List the repository's snapshots.
    List,
    /// Delete snapshots older than --keep-days, and the files no other snapshot uses.
    Cleanup {
        /// Keep snapshots taken in the last N days.
        #[arg(long)]
        keep_days: u32,
    },
}

/// Options of `full` and `incremental`.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// Database to back up.
    #[arg(long)]
    pub db: String,
    /// Snapshot name (default: `<db>_<yyyymmdd>_<hhmmss>`).
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Only these tables (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
}

/// Options of `restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot name.
    #[arg(long)]
    pub snapshot: String,
    /// Snapshot timestamp (as `list` shows it); the newest of the name when absent.
    #[arg(long)]
    pub timestamp: Option<String>,
    /// The database the snapshot was taken of.
    #[arg(long)]
    pub db: String,
    /// Restore into this database instead.
    #[arg(long = "as")]
    pub as_db: Option<String>,
    /// Only these tables (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
}

fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Runs an action; `Ok(false)` when a job failed or a snapshot is corrupt.
pub async fn run(args: BackupArgs) -> Result<bool, String> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(args.host.clone())
        .tcp_port(args.port)
        .user(Some(args.user.clone()))
        .pass(Some(args.password.clone()))
        .prefer_socket(false);
    let mut c = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", args.host, args.port))?;
    let repo = quote_ident(&args.repo);
    let outcome = match &args.action {
        Action::Full(s) | Action::Incremental(s) => {
            let kind = if matches!(args.action, Action::Full(_)) {
                "full"
            } else {
                "incremental"
            };
            let name = s.snapshot.clone().unwrap_or_else(|| {
                format!("{}_{}", s.db, chrono::Utc::now().format("%Y%m%d_%H%M%S"))
            });
            let on = on_clause(&s.tables);
            let sql = format!(
                "BACKUP SNAPSHOT {}.{} TO {repo}{on} PROPERTIES (\"type\" = \"{kind}\")",
                quote_ident(&s.db),
                quote_ident(&name)
            );
            exec(&mut c, &sql).await?;
            let (ok, progress) = wait(&mut c, "BACKUP", &s.db, args.quiet).await?;
            if ok {
                println!("{kind} backup {name} of {} finished: {progress}", s.db);
            }
            ok
        }
        Action::Restore(r) => {
            let mut props = vec![];
            if let Some(t) = &r.timestamp {
                props.push(format!("\"backup_timestamp\" = {}", quote_str(t)));
            }
            let props = if props.is_empty() {
                String::new()
            } else {
                format!(" PROPERTIES ({})", props.join(", "))
            };
            let target = r.as_db.clone().unwrap_or_else(|| r.db.clone());
            let as_db = r
                .as_db
                .as_ref()
                .map(|d| format!(" AS {}", quote_ident(d)))
                .unwrap_or_default();
            let sql = format!(
                "RESTORE SNAPSHOT {} FROM {repo} DATABASE {}{as_db}{}{props}",
                quote_ident(&r.snapshot),
                quote_ident(&r.db),
                on_clause(&r.tables)
            );
            exec(&mut c, &sql).await?;
            let (ok, progress) = wait(&mut c, "RESTORE", &target, args.quiet).await?;
            if ok {
                println!("restored {} into {target}: {progress}", r.snapshot);
            }
            ok
        }
        Action::Verify {
            snapshot,
            timestamp,
        } => {
            let targets: Vec<(String, Option<String>)> = match snapshot {
                Some(s) => vec![(s.clone(), timestamp.clone())],
                None => list(&mut c, &repo)
                    .await?
                    .into_iter()
                    .map(|(s, t, _)| (s, Some(t)))
                    .collect(),
            };
            let mut all_ok = true;
            for (name, ts) in targets {
                let props = ts
                    .map(|t| format!(" PROPERTIES (\"backup_timestamp\" = {})", quote_str(&t)))
                    .unwrap_or_default();
                let sql = format!("VERIFY SNAPSHOT {} FROM {repo}{props}", quote_ident(&name));
                let rows: Vec<mysql_async::Row> =
                    c.query(&sql).await.map_err(|e| format!("{sql}: {e}"))?;
                for row in rows {
                    let get = |k: &str| row.get::<String, _>(k).unwrap_or_default();
                    let status = get("Status");
                    println!(
                        "{} {} {} files {} bytes {status} {}",
                        get("Snapshot"),
                        get("Timestamp"),
                        get("Files"),
                        get("Bytes"),
                        get("Details")
                    );
                    all_ok &= status == "OK";
                }
            }
            all_ok
        }
        Action::List => {
            for (name, ts, status) in list(&mut c, &repo).await? {
                println!("{name}\t{ts}\t{status}");
            }
            true
        }
        Action::Cleanup { keep_days } => {
            let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(*keep_days));
            let cutoff = cutoff.format("%Y-%m-%d-%H-%M-%S-%3f").to_string();
            let sql = format!(
                "DROP SNAPSHOT ON {repo} WHERE Timestamp < {}",
                quote_str(&cutoff)
            );
            let rows: Vec<(i64, i64, i64)> =
                c.query(&sql).await.map_err(|e| format!("{sql}: {e}"))?;
            let (snaps, files, bytes) = rows.first().copied().unwrap_or_default();
            println!(
                "dropped {snaps} snapshots taken before {cutoff}: {files} files, {bytes} bytes deleted"
            );
            true
        }
    };
    let _ = c.disconnect().await;
    Ok(outcome)
}

fn on_clause(tables: &[String]) -> String {
    if tables.is_empty() {
        return String::new();
    }
    let names: Vec<String> = tables.iter().map(|t| quote_ident(t.trim())).collect();
    format!(" ON ({})", names.join(", "))
}

async fn exec(c: &mut mysql_async::Conn, sql: &str) -> Result<(), String> {
    c.query_drop(sql).await.map_err(|e| format!("{sql}: {e}"))
}

async fn list(
    c: &mut mysql_async::Conn,
    repo: &str,
) -> Result<Vec<(String, String, String)>, String> {
    let sql = format!("SHOW SNAPSHOT ON {repo}");
    let rows: Vec<mysql_async::Row> = c.query(&sql).await.map_err(|e| format!("{sql}: {e}"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let get = |k: &str| r.get::<String, _>(k).unwrap_or_default();
            (get("Snapshot"), get("Timestamp"), get("Status"))
        })
        .collect())
}

/// Follows the database's last BACKUP or RESTORE job until it ends: whether it finished,
/// and its last progress.
async fn wait(
    c: &mut mysql_async::Conn,
    what: &str,
    db: &str,
    quiet: bool,
) -> Result<(bool, String), String> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:14} [{bar:40}] {pos}/{len} files {elapsed}",
            )
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
        );
        bar
    };
    let sql = format!("SHOW {what} FROM {}", quote_ident(db));
    loop {
        let rows: Vec<mysql_async::Row> = c.query(&sql).await.map_err(|e| format!("{sql}: {e}"))?;
        let Some(row) = rows.into_iter().next() else {
            return Err(format!("no {what} job in database {db}"));
        };
        let get = |k: &str| row.get::<String, _>(k).unwrap_or_default();
        let state = get("State");
        // "done/total files, size"
        let progress = get("Progress");
        if let Some((done, rest)) = progress.split_once('/') {
            let total = rest.split_whitespace().next().unwrap_or("0");
            bar.set_length(total.parse().unwrap_or(0));
            bar.set_position(done.parse().unwrap_or(0));
        }
        bar.set_message(state.clone());
        match state.as_str() {
            "FINISHED" => {
                bar.finish_and_clear();
                return Ok((true, progress));
            }
            "CANCELLED" => {
                bar.finish_and_clear();
                eprintln!("{what} failed: {}", get("TaskErrMsg"));
                return Ok((false, progress));
            }
            // Short enough that the time a job takes is measured to a tenth of a second.
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
