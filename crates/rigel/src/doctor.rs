//! `rigel doctor`: a host preflight for a frontend or backend node.
//!
//! Facts are gathered from the host once ([`HostFacts::gather`]); the checks are pure
//! functions of the facts, the role and the tier, so they are tested without touching the
//! machine they run on.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rigel_common::host;
use serde_json::{Value, json};

/// The role a host is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Frontend (catalog, MySQL protocol).
    Fe,
    /// Backend (storage and execution).
    Be,
    /// Both roles in one process (`rigel server`).
    Server,
}

/// Hardware tiers of the deployment guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tier {
    /// Trials and small teams.
    Small,
    /// Production for most teams.
    Medium,
    /// Large production clusters.
    Large,
}

/// What a tier asks of one host of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirements {
    /// CPU cores.
    pub cores: usize,
    /// Memory, GiB.
    pub memory_gib: u64,
    /// Free space per data directory, GiB.
    pub disk_gib: u64,
}

/// The guide's hardware tables.
pub fn requirements(role: Role, tier: Tier) -> Requirements {
    let r = |cores, memory_gib, disk_gib| Requirements {
        cores,
        memory_gib,
        disk_gib,
    };
    match (role, tier) {
        (Role::Fe, Tier::Small) => r(4, 16, 50),
        (Role::Fe, Tier::Medium) => r(8, 32, 100),
        (Role::Fe, Tier::Large) => r(16, 64, 200),
        (Role::Be | Role::Server, Tier::Small) => r(8, 32, 200),
        (Role::Be | Role::Server, Tier::Medium) => r(16, 64, 1024),
        (Role::Be | Role::Server, Tier::Large) => r(32, 128, 4096),
    }
}

/// `rigel doctor` flags.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The role this host will run.
    #[arg(long, value_enum, default_value = "server")]
    pub role: Role,
    /// The hardware tier to check against.
    #[arg(long, value_enum, default_value = "small")]
    pub tier: Tier,
    /// Data directories to check (`storage_root_path` syntax: `/data1;/data2,medium:SSD`).
    /// Default: the configuration's, else ./rigel-data.
    #[arg(long)]
    pub storage_root_path: Option<String>,
    /// A configuration file (fe.conf / be.conf syntax) for paths and ports.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Fine.
    Ok,
    /// Informational.
    Info,
    /// Works, but not as the guide recommends.
    Warn,
    /// Does not meet the minimum.
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Info => "INFO",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub value: String,
    /// What to do (empty when nothing).
    pub recommendation: String,
}

fn finding(check: &str, status: Status, value: impl Into<String>, rec: &str) -> Finding {
    Finding {
        check: check.to_string(),
        status,
        value: value.into(),
        recommendation: if status == Status::Ok {
            String::new()
        } else {
            rec.to_string()
        },
    }
}

/// A data directory's filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskFacts {
    /// The directory.
    pub path: PathBuf,
    /// Filesystem type, free and total bytes (None when it cannot be resolved).
    pub space: Option<(String, u64, u64)>,
}

/// What the checks look at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostFacts {
    /// Usable CPU cores.
    pub cores: usize,
    /// Memory (or the cgroup limit), bytes.
    pub memory: u64,
    /// Swap, bytes.
    pub swap: u64,
    /// `vm.swappiness`.
    pub swappiness: Option<u64>,
    /// `vm.overcommit_memory`.
    pub overcommit: Option<u64>,
    /// `vm.max_map_count`.
    pub max_map_count: Option<u64>,
    /// The selected value of `/sys/kernel/mm/transparent_hugepage/enabled`.
    pub thp: Option<String>,
    /// Soft limit on open files.
    pub open_files: Option<u64>,
    /// Soft limit on processes.
    pub processes: Option<u64>,
    /// Whether the clock is synchronised (None: cannot tell).
    pub clock_synced: Option<bool>,
    /// `net.ipv4.tcp_tw_recycle`, which only kernels before 4.12 have.
    pub tcp_tw_recycle: Option<u64>,
    /// `net.core.somaxconn`.
    pub somaxconn: Option<u64>,
    /// Ports and whether each is free.
    pub ports: Vec<(u16, bool)>,
    /// Data directories.
    pub disks: Vec<DiskFacts>,
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn limit(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let soft = line[name.len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

fn clock_synced() -> Option<bool> {
    // systemd-timesyncd and chrony/ntpd under systemd report through timedatectl.
    if let Ok(out) = std::process::Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .output()
        && out.status.success()
    {
        match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => return Some(true),
            "no" => return Some(false),
            _ => {}
        }
    }
    // Without systemd: a running time daemon is the best sign there is.
    let daemons = ["chronyd", "ntpd", "systemd-timesyn", "openntpd"];
    let entries = std::fs::read_dir("/proc").ok()?;
    for e in entries.flatten() {
        if let Ok(comm) = std::fs::read_to_string(e.path().join("comm"))
            && daemons.contains(&comm.trim())
        {
            return Some(true);
        }
    }
    None
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
}

impl HostFacts {
    /// Reads the facts of this host.
    pub fn gather(paths: &[PathBuf], ports: &[u16]) -> Self {
        let memory = host::memory();
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .ok()
            .and_then(|t| {
                let start = t.find('[')?;
                let end = t[start..].find(']')? + start;
                Some(t[start + 1..end].to_string())
            });
        Self {
            cores: host::cpu_count(),
            memory: memory.total,
            swap: memory.swap_total,
            swappiness: read_u64("/proc/sys/vm/swappiness"),
            overcommit: read_u64("/proc/sys/vm/overcommit_memory"),
            max_map_count: read_u64("/proc/sys/vm/max_map_count"),
            thp,
            open_files: limit("Max open files"),
            processes: limit("Max processes"),
            clock_synced: clock_synced(),
            tcp_tw_recycle: read_u64("/proc/sys/net/ipv4/tcp_tw_recycle"),
            somaxconn: read_u64("/proc/sys/net/core/somaxconn"),
            ports: ports.iter().map(|&p| (p, port_free(p))).collect(),
            disks: paths
                .iter()
                .map(|p| DiskFacts {
                    path: p.clone(),
                    space: host::disk_of(p).map(|d| (d.filesystem, d.available, d.total)),
                })
                .collect(),
        }
    }
}

const GIB: u64 = 1 << 30;

/// Every check, in report order.
pub fn check(facts: &HostFacts, role: Role, tier: Tier) -> Vec<Finding> {
    let req = requirements(role, tier);
    let mut out = vec![];
    out.push(finding(
        "cpu_cores",
        if facts.cores >= req.cores {
            Status::Ok
        } else {
            Status::Fail
        },
        format!("{} (tier needs {})", facts.cores, req.cores),
        "use a host with more cores, or a smaller tier",
    ));
    let gib = facts.memory / GIB;
    out.push(finding(
        "memory",
        if facts.memory + GIB / 2 >= req.memory_gib * GIB {
            Status::Ok
        } else {
            Status::Fail
        },
        format!("{gib} GiB (tier needs {} GiB)", req.memory_gib),
        "use a host with more memory, or a smaller tier",
    ));
    for d in &facts.disks {
        let name = format!("disk {}", d.path.display());
        match &d.space {
            None => out.push(finding(
                &name,
                Status::Fail,
                "cannot resolve the filesystem",
                "create the directory on a mounted data disk",
            )),
            Some((fs, free, total)) => {
                out.push(finding(
                    &name,
                    if *free >= req.disk_gib * GIB {
                        Status::Ok
                    } else {
                        Status::Fail
                    },
                    format!(
                        "{} GiB free of {} GiB (tier needs {} GiB)",
                        free / GIB,
                        total / GIB,
                        req.disk_gib
                    ),
                    "free space or mount a larger disk",
                ));
                let good_fs = matches!(fs.as_str(), "ext4" | "xfs");
                out.push(finding(
                    &format!("filesystem {}", d.path.display()),
                    if good_fs { Status::Ok } else { Status::Warn },
                    fs.clone(),
                    "put data on ext4 or xfs",
                ));
            }
        }
    }
    out.push(finding(
        "swap",
        if facts.swap == 0 {
            Status::Ok
        } else {
            Status::Warn
        },
        format!("{} MiB", facts.swap >> 20),
        "disable swap (swapoff -a, and remove it from /etc/fstab): swapping stalls queries",
    ));
    if let Some(s) = facts.swappiness {
        out.push(finding(
            "vm.swappiness",
            if s == 0 || facts.swap == 0 {
                Status::Ok
            } else {
                Status::Warn
            },
            s.to_string(),
            "sysctl -w vm.swappiness=0 (and in /etc/sysctl.conf)",
        ));
    }
    if let Some(o) = facts.overcommit {
        out.push(finding(
            "vm.overcommit_memory",
            if o == 1 { Status::Ok } else { Status::Warn },
            o.to_string(),
            "sysctl -w vm.overcommit_memory=1",
        ));
    }
    if let Some(m) = facts.max_map_count {
        out.push(finding(
            "vm.max_map_count",
            if m >= 262_144 {
                Status::Ok
            } else {
                Status::Warn
            },
            m.to_string(),
            "sysctl -w vm.max_map_count=262144",
        ));
    }
    if let Some(t) = &facts.thp {
        out.push(finding(
            "transparent_hugepage",
            if t == "never" || t == "madvise" {
                Status::Ok
            } else {
                Status::Warn
            },
            t.clone(),
            "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled",
        ));
    }
    let limit_check = |name: &str, v: Option<u64>, min: u64, rec: &str| match v {
        Some(v) => finding(
            name,
            if v >= min { Status::Ok } else { Status::Warn },
            if v == u64::MAX {
                "unlimited".to_string()
            } else {
                v.to_string()
            },
            rec,
        ),
        None => finding(name, Status::Info, "unknown", rec),
    };
    out.push(limit_check(
        "open_files_limit",
        facts.open_files,
        65_535,
        "ulimit -n 655350 (and nofile in /etc/security/limits.conf or LimitNOFILE in the unit)",
    ));
    out.push(limit_check(
        "process_limit",
        facts.processes,
        65_535,
        "ulimit -u 655350 (nproc in /etc/security/limits.conf or LimitNPROC in the unit)",
    ));
    out.push(match facts.clock_synced {
        Some(true) => finding("clock_sync", Status::Ok, "synchronised", ""),
        Some(false) => finding(
            "clock_sync",
            Status::Warn,
            "not synchronised",
            "enable NTP (chrony or systemd-timesyncd): frontends need clocks within 5 s",
        ),
        None => finding(
            "clock_sync",
            Status::Info,
            "cannot tell",
            "make sure NTP (chrony or systemd-timesyncd) runs",
        ),
    });
    out.push(match facts.tcp_tw_recycle {
        None => finding(
            "net.ipv4.tcp_tw_recycle",
            Status::Info,
            "absent (removed in Linux 4.12)",
            "nothing to set: guides recommending it predate its removal",
        ),
        Some(0) => finding("net.ipv4.tcp_tw_recycle", Status::Ok, "0", ""),
        Some(v) => finding(
            "net.ipv4.tcp_tw_recycle",
            Status::Warn,
            v.to_string(),
            "set it to 0: it drops connections from clients behind NAT",
        ),
    });
    if let Some(v) = facts.somaxconn {
        out.push(finding(
            "net.core.somaxconn",
            if v >= 1024 { Status::Ok } else { Status::Warn },
            v.to_string(),
            "sysctl -w net.core.somaxconn=1024",
        ));
    }
    for (port, free) in &facts.ports {
        out.push(finding(
            &format!("port {port}"),
            if *free { Status::Ok } else { Status::Fail },
            if *free { "free" } else { "in use" },
            "stop what listens there, or choose another port in the configuration",
        ));
    }
    out
}

/// The ports a role listens on.
pub fn role_ports(role: Role, config: &rigel_common::config::Config) -> Vec<u16> {
    match role {
        Role::Fe => vec![config.query_port, config.http_port],
        Role::Be => vec![config.be_http_port],
        Role::Server => vec![config.query_port, config.http_port, config.be_http_port],
    }
}

/// The report as a table for people.
pub fn render_table(findings: &[Finding]) -> String {
    let w0 = findings
        .iter()
        .map(|f| f.check.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let w2 = findings
        .iter()
        .map(|f| f.value.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "{:<w0$}  {:<6}  {:<w2$}  RECOMMENDATION\n",
        "CHECK", "STATUS", "VALUE"
    );
    for f in findings {
        out.push_str(&format!(
            "{:<w0$}  {:<6}  {:<w2$}  {}\n",
            f.check,
            f.status.as_str(),
            f.value,
            f.recommendation
        ));
    }
    let worst = findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Ok);
    out.push_str(&format!(
        "\n{} checks: {} failed, {} warnings\n",
        findings.len(),
        findings.iter().filter(|f| f.status == Status::Fail).count(),
        findings.iter().filter(|f| f.status == Status::Warn).count(),
    ));
    if worst == Status::Fail {
        out.push_str("This host does not meet the minimum for the role and tier.\n");
    }
    out
}

/// The report as JSON for machines.
pub fn render_json(role: Role, tier: Tier, findings: &[Finding]) -> Value {
    json!({
        "role": format!("{role:?}").to_lowercase(),
        "tier": format!("{tier:?}").to_lowercase(),
        "ok": !findings.iter().any(|f| f.status == Status::Fail),
        "findings": findings.iter().map(|f| json!({
            "check": f.check,
            "status": f.status.as_str(),
            "value": f.value,
            "recommendation": f.recommendation,
        })).collect::<Vec<_>>(),
    })
}

/// Runs `rigel doctor`; the exit code is 0 when nothing failed, 1 otherwise.
pub fn run(args: DoctorArgs) -> Result<bool, String> {
    let mut config = rigel_common::config::Config::default();
    if let Some(path) = &args.config {
        config.apply_file(path).map_err(|e| e.to_string())?;
    }
    if let Some(p) = &args.storage_root_path {
        config
            .set("storage_root_path", p)
            .map_err(|e| e.to_string())?;
    }
    let mut paths: Vec<PathBuf> =
        rigel_common::config::parse_storage_root_path(&config.storage_root_path)
            .into_iter()
            .map(|p| p.path)
            .collect();
    if paths.is_empty() {
        paths.push(config.storage_path());
    }
    if args.role == Role::Fe {
        paths = vec![config.meta_path()];
    }
    let facts = HostFacts::gather(&paths, &role_ports(args.role, &config));
    let findings = check(&facts, args.role, args.tier);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render_json(args.role, args.tier, &findings))
                .map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", render_table(&findings));
    }
    Ok(!findings.iter().any(|f| f.status == Status::Fail))
}

#[cfg(test)]
fn mentions(findings: &[Finding], path: &std::path::Path) -> bool {
    let p = path.display().to_string();
    findings.iter().any(|f| f.check.ends_with(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> HostFacts {
        HostFacts {
            cores: 16,
            memory: 64 * GIB,
            swap: 0,
            swappiness: Some(0),
            overcommit: Some(1),
            max_map_count: Some(262_144),
            thp: Some("madvise".into()),
            open_files: Some(655_350),
            processes: Some(u64::MAX),
            clock_synced: Some(true),
            tcp_tw_recycle: None,
            somaxconn: Some(4096),
            ports: vec![(9030, true)],
            disks: vec![DiskFacts {
                path: "/data".into(),
                space: Some(("xfs".into(), 2048 * GIB, 4096 * GIB)),
            }],
        }
    }

    fn status(findings: &[Finding], check: &str) -> Status {
        findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.status)
            .unwrap_or_else(|| panic!("no check {check}"))
    }

    #[test]
    fn a_good_host_passes_the_medium_tier() {
        let f = check(&good(), Role::Be, Tier::Medium);
        assert!(f.iter().all(|x| x.status <= Status::Info), "{f:#?}");
        assert_eq!(status(&f, "net.ipv4.tcp_tw_recycle"), Status::Info);
        assert!(mentions(&f, std::path::Path::new("/data")));
    }

    #[test]
    fn shortfalls_fail_and_tunables_warn() {
        let mut h = good();
        h.cores = 4;
        h.swap = 8 * GIB;
        h.swappiness = Some(60);
        h.thp = Some("always".into());
        h.open_files = Some(1024);
        h.tcp_tw_recycle = Some(1);
        h.ports = vec![(9030, false)];
        h.disks[0].space = Some(("ext3".into(), 10 * GIB, 20 * GIB));
        let f = check(&h, Role::Be, Tier::Large);
        assert_eq!(status(&f, "cpu_cores"), Status::Fail);
        assert_eq!(status(&f, "memory"), Status::Fail);
        assert_eq!(status(&f, "disk /data"), Status::Fail);
        assert_eq!(status(&f, "filesystem /data"), Status::Warn);
        assert_eq!(status(&f, "swap"), Status::Warn);
        assert_eq!(status(&f, "vm.swappiness"), Status::Warn);
        assert_eq!(status(&f, "transparent_hugepage"), Status::Warn);
        assert_eq!(status(&f, "open_files_limit"), Status::Warn);
        assert_eq!(status(&f, "net.ipv4.tcp_tw_recycle"), Status::Warn);
        assert_eq!(status(&f, "port 9030"), Status::Fail);
        let json = render_json(Role::Be, Tier::Large, &f);
        assert_eq!(json["ok"], false);
        assert!(render_table(&f).contains("does not meet the minimum"));
        // Every finding that is not OK says what to do.
        assert!(
            f.iter()
                .filter(|x| x.status != Status::Ok)
                .all(|x| !x.recommendation.is_empty())
        );
    }

    #[test]
    fn gathering_this_host_works() {
        let facts = HostFacts::gather(&[std::env::temp_dir()], &[0]);
        assert!(facts.cores >= 1);
        assert!(facts.memory > 0);
        assert!(facts.disks[0].space.is_some());
    }
}
