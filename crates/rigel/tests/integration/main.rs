//! Integration tests: a real server on port 0 and real clients. One binary, to link once.

mod backup;
mod cli;
mod client;
mod cluster;
mod cluster_load;
mod colocate;
#[path = "../common/mod.rs"]
mod common;
mod compaction;
mod durability;
mod fuzz;
mod observability;
mod primary_key;
mod replicas;
mod security;
mod stream_load;
mod tls;
mod tpch;

/// docs/configuration.md is generated from the code and must not drift.
#[test]
fn configuration_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        on_disk,
        rigel::config_reference(),
        "docs/configuration.md is stale: run `cargo run -- config-reference > docs/configuration.md`"
    );
}
