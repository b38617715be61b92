//! The `rigel` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rigel_common::config::{Config, SetOutcome};
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    name = "rigel",
    version,
    about = "A StarRocks-compatible analytical database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the frontend and backend roles in one process.
    Server(ServerArgs),
    /// Run a frontend of a cluster: MySQL, HTTP and the catalog; no tablet data.
    Fe(ServerArgs),
    /// Run a backend of a cluster: tablets, scans and writes; no MySQL port, no catalog.
    Be(ServerArgs),
    /// Print the configuration reference (Markdown), generated from the code.
    ConfigReference,
    /// Check this host before installing a frontend or backend on it.
    Doctor(rigel::doctor::DoctorArgs),
    /// Plan cluster capacity from table sizes or a running server.
    Plan(rigel::plan::PlanArgs),
    /// Back up, restore, verify and clean up snapshots of a running server.
    Backup(rigel::backup_cli::BackupArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// TPC-H: generate, load with Stream Load, run the 22 queries, verify, report.
    Tpch(rigel::bench::TpchArgs),
    /// PRIMARY KEY table: Stream Load inserts and upserts, then concurrent point lookups.
    Pk(rigel::bench_pk::PkArgs),
}

/// Flags are the kebab-case of StarRocks' configuration keys; they override the file.
#[derive(Args, Debug)]
struct ServerArgs {
    /// A configuration file in fe.conf / be.conf syntax.
    #[arg(long)]
    config: Option<PathBuf>,
    /// MySQL protocol port (`query_port`, 9030; 0 picks a free port).
    #[arg(long)]
    query_port: Option<u16>,
    /// Frontend HTTP port (`http_port`, 8030).
    #[arg(long)]
    http_port: Option<u16>,
    /// Backend HTTP port (`be_http_port`, 8040).
    #[arg(long)]
    be_http_port: Option<u16>,
    /// Data directory (`data_dir`, ./rigel-data).
    #[arg(long)]
    data_dir: Option<String>,
    /// Address to listen on (`bind_address`, 127.0.0.1; 0.0.0.0 for every interface).
    #[arg(long)]
    bind_address: Option<String>,
    /// Networks to pick the advertised address from (`priority_networks`).
    #[arg(long)]
    priority_networks: Option<String>,
    /// Frontend metadata directory (`meta_dir`).
    #[arg(long)]
    meta_dir: Option<String>,
    /// Tablet storage directory (`storage_root_path`).
    #[arg(long)]
    storage_root_path: Option<String>,
    /// Frontend RPC port (`rpc_port`, 9020).
    #[arg(long)]
    rpc_port: Option<u16>,
    /// Backend control RPC port (`be_port`, 9060).
    #[arg(long)]
    be_port: Option<u16>,
    /// Backend data port (`brpc_port`, 8060).
    #[arg(long)]
    brpc_port: Option<u16>,
    /// Backend heartbeat port (`heartbeat_service_port`, 9050).
    #[arg(long)]
    heartbeat_service_port: Option<u16>,
    /// Seconds without a heartbeat after which a backend is dead (`heartbeat_timeout_second`).
    #[arg(long)]
    heartbeat_timeout_second: Option<u64>,
}

fn build_config(args: &ServerArgs) -> Result<(Config, Vec<(String, SetOutcome)>), String> {
    let mut config = Config::default();
    let mut outcomes = vec![];
    if let Some(path) = &args.config {
        outcomes = config.apply_file(path).map_err(|e| e.to_string())?;
    }
    let flags: [(&str, Option<String>); 14] = [
        ("rpc_port", args.rpc_port.map(|v| v.to_string())),
        ("be_port", args.be_port.map(|v| v.to_string())),
        ("brpc_port", args.brpc_port.map(|v| v.to_string())),
        (
            "heartbeat_service_port",
            args.heartbeat_service_port.map(|v| v.to_string()),
        ),
        (
            "heartbeat_timeout_second",
            args.heartbeat_timeout_second.map(|v| v.to_string()),
        ),
        ("query_port", args.query_port.map(|v| v.to_string())),
        ("http_port", args.http_port.map(|v| v.to_string())),
        ("be_http_port", args.be_http_port.map(|v| v.to_string())),
        ("data_dir", args.data_dir.clone()),
        ("bind_address", args.bind_address.clone()),
        ("priority_networks", args.priority_networks.clone()),
        ("meta_dir", args.meta_dir.clone()),
        ("storage_root_path", args.storage_root_path.clone()),
        ("sys_log_level", None),
    ];
    for (key, value) in flags {
        if let Some(v) = value {
            config.set(key, &v).map_err(|e| e.to_string())?;
        }
    }
    Ok((config, outcomes))
}

#[derive(Clone, Copy)]
enum Role {
    Server,
    Fe,
    Be,
}

async fn stop_signal() -> Result<(), String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => info!("interrupt received, shutting down"),
    }
    Ok(())
}

async fn run_server(config: Config, role: Role) -> Result<(), String> {
    if let Role::Be = role {
        let mut handle = rigel::node::start_backend(config)
            .await
            .map_err(|e| e.to_string())?;
        tokio::select! {
            r = stop_signal() => r?,
            _ = handle.wait() => warn!("servers stopped unexpectedly"),
        }
        handle.shutdown().await;
        return Ok(());
    }
    run_frontend(config, role).await
}

#[cfg(feature = "frontend")]
async fn run_frontend(config: Config, role: Role) -> Result<(), String> {
    let started = match role {
        Role::Fe => rigel::start_frontend(config).await,
        _ => rigel::start(config).await,
    };
    let mut handle = started.map_err(|e| e.to_string())?;
    tokio::select! {
        r = stop_signal() => r?,
        _ = handle.wait() => warn!("servers stopped unexpectedly"),
    }
    handle.shutdown().await;
    Ok(())
}

#[cfg(not(feature = "frontend"))]
async fn run_frontend(_config: Config, _role: Role) -> Result<(), String> {
    Err(
        "this rigel is built without the frontend roles (cargo feature `frontend`): \
         it runs `rigel be` only"
            .to_string(),
    )
}

/// A runtime for the client commands (bench, plan); None (reported) when it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("rigel: cannot start the runtime: {e}");
            None
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench { which } => {
            rigel::logging::init_stderr("WARN");
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            let outcome = match which {
                BenchCommand::Tpch(args) => runtime.block_on(rigel::bench::run(args)),
                BenchCommand::Pk(args) => runtime.block_on(rigel::bench_pk::run(args)),
            };
            match outcome {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("rigel bench: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Backup(args) => {
            rigel::logging::init_stderr("WARN");
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            match runtime.block_on(rigel::backup_cli::run(args)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("rigel backup: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Doctor(args) => match rigel::doctor::run(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("rigel doctor: {e}");
                ExitCode::from(2)
            }
        },
        Command::Plan(args) => {
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            match runtime.block_on(rigel::plan::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rigel plan: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::ConfigReference => {
            print!("{}", rigel::config_reference());
            ExitCode::SUCCESS
        }
        Command::Server(args) => serve(&args, Role::Server),
        Command::Fe(args) => serve(&args, Role::Fe),
        Command::Be(args) => serve(&args, Role::Be),
    }
}

fn serve(args: &ServerArgs, role: Role) -> ExitCode {
    let (config, outcomes) = match build_config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rigel: {e}");
            return ExitCode::from(2);
        }
    };
    rigel::logging::init_files(
        &config.sys_log_level,
        &config.sys_log_path(),
        config.log_roll_size_mb,
        std::time::Duration::from_secs(config.sys_log_delete_age.0),
    );
    for (key, outcome) in outcomes {
        match outcome {
            SetOutcome::Applied => {}
            SetOutcome::NotApplicable(why) => {
                info!("configuration key '{key}' is accepted but has no effect: {why}")
            }
            SetOutcome::Unknown => warn!("unknown configuration key '{key}' ignored"),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_server(config, role)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
