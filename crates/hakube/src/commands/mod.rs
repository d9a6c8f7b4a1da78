//! One module per group of subcommands; each exposes async `run`-style functions taking the data
//! directory and its parsed arguments.

pub mod add_node;
pub mod bench;
pub mod bench_api;
pub mod bench_etcd;
pub mod config;
pub mod daemon;
pub mod dbctl;
pub mod images;
pub mod inspect;
pub mod join;
pub mod lifecycle;
pub mod status;
