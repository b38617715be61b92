//! Facts about this host and this process, for metrics, memory limits and `rigel doctor`.
//!
//! Process figures come from `/proc/self` (Linux); elsewhere they read as zero.

use std::path::{Path, PathBuf};

/// Resident memory of this process, in bytes.
pub fn process_rss_bytes() -> u64 {
    status_field("VmRSS:").map(|kb| kb * 1024).unwrap_or(0)
}

/// Threads of this process.
pub fn process_threads() -> u64 {
    status_field("Threads:").unwrap_or(0)
}

/// Open file descriptors of this process.
pub fn process_open_files() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

fn status_field(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Memory and CPU of the host, honouring a cgroup memory limit when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMemory {
    /// Physical memory, or the cgroup limit when lower.
    pub total: u64,
    /// Memory available to new allocations.
    pub available: u64,
    /// Swap configured.
    pub swap_total: u64,
}

/// The host's memory.
pub fn memory() -> HostMemory {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let mut total = system.total_memory();
    let mut available = system.available_memory();
    if let Some(limits) = system.cgroup_limits()
        && limits.total_memory > 0
        && limits.total_memory < total
    {
        total = limits.total_memory;
        available = available.min(limits.free_memory);
    }
    HostMemory {
        total,
        available,
        swap_total: system.total_swap(),
    }
}

/// Logical CPUs this process may use.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The filesystem a path lives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpace {
    /// Mount point.
    pub mount: PathBuf,
    /// Filesystem type (ext4, xfs, …).
    pub filesystem: String,
    /// Capacity in bytes.
    pub total: u64,
    /// Bytes available to unprivileged writers.
    pub available: u64,
}

/// The filesystem holding `path` (the mount point that is its longest prefix). The path need
/// not exist yet: its nearest existing ancestor is used.
pub fn disk_of(path: &Path) -> Option<DiskSpace> {
    let mut probe = path.to_path_buf();
    let resolved = loop {
        if let Ok(p) = probe.canonicalize() {
            break p;
        }
        if !probe.pop() {
            return None;
        }
    };
    let disks = sysinfo::Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .filter(|d| resolved.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| DiskSpace {
            mount: d.mount_point().to_path_buf(),
            filesystem: d.file_system().to_string_lossy().into_owned(),
            total: d.total_space(),
            available: d.available_space(),
        })
}

/// A memory limit as StarRocks writes it: `90%` of physical memory, or bytes with an optional
/// unit (`16G`, `512M`, `1073741824`).
pub fn parse_mem_limit(text: &str, physical: u64) -> Result<u64, String> {
    let t = text.trim();
    if let Some(pct) = t.strip_suffix('%') {
        let pct: f64 = pct
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a percentage"))?;
        if !(pct > 0.0 && pct <= 100.0) {
            return Err(format!("'{text}' must be between 0% and 100%"));
        }
        return Ok((physical as f64 * pct / 100.0) as u64);
    }
    parse_bytes(t)
}

/// Bytes with an optional binary unit: `1073741824`, `512M`, `16GB`, `2T`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let digits_end = upper
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(upper.len());
    let (number, unit) = upper.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        "T" | "TB" => 1 << 40,
        other => return Err(format!("'{text}' has an unknown unit '{other}'")),
    };
    let bytes = number * scale as f64;
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_limits() {
        assert_eq!(parse_mem_limit("90%", 1000), Ok(900));
        assert_eq!(parse_mem_limit("16G", 0), Ok(16 << 30));
        assert_eq!(parse_mem_limit("512MB", 0), Ok(512 << 20));
        assert_eq!(parse_mem_limit("1073741824", 0), Ok(1 << 30));
        assert!(parse_mem_limit("0%", 1000).is_err());
        assert!(parse_mem_limit("150%", 1000).is_err());
        assert!(parse_mem_limit("lots", 1000).is_err());
        assert!(parse_mem_limit("12Q", 1000).is_err());
    }

    #[test]
    fn this_process() {
        assert!(process_rss_bytes() > 0);
        assert!(process_threads() >= 1);
        assert!(process_open_files() >= 1);
        assert!(memory().total > 0);
        assert!(disk_of(Path::new("/tmp/surely/not/here")).is_some());
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:port` (`[v6]:port` for IPv6), explaining what is wrong when it cannot.
pub fn split_host_port(text: &str) -> Result<(String, u16), String> {
    let text = text.trim();
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("'{text}' is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("'{text}' does not name a host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' in '{text}' is not a port number"))?;
    if port == 0 {
        return Err(format!("'{text}' names port 0"));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod host_port_tests {
    use super::*;

    #[test]
    fn host_port_round_trips() {
        assert_eq!(
            split_host_port("10.0.0.1:9050").unwrap(),
            ("10.0.0.1".into(), 9050)
        );
        assert_eq!(split_host_port(" be1:9050 ").unwrap(), ("be1".into(), 9050));
        assert_eq!(split_host_port("[::1]:9050").unwrap(), ("::1".into(), 9050));
        assert_eq!(join_host_port("::1", 9050), "[::1]:9050");
        assert_eq!(join_host_port("be1", 9050), "be1:9050");
        for bad in ["be1", ":9050", "be1:x", "be1:0", "be1:70000", "a b:1"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
