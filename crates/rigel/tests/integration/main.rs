//! Integration tests: a real server on port 0 and real clients. One binary, to link once.

mod cli;
mod client;
#[path = "../common/mod.rs"]
mod common;
mod durability;
mod fuzz;
