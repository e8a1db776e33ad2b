//! sscard: the case system of 社会保障卡启用（含社会保障卡银行账户激活）
//! for the 柳江区人力资源和社会保障局.
//!
//! Layers (see `docs/ARCHITECTURE.md`): [`sscard_domain`] holds the pure
//! rules; [`service`] the use cases; [`store`] the persistence on SQLite or
//! PostgreSQL; [`http`] the JSON API and the Chinese pages; [`cli`] the
//! `sscard` command; [`config`] its layered configuration.

pub mod bankfile;
pub mod blobs;
pub mod cli;
pub mod cli_backup;
pub mod cli_bank;
pub mod cli_batch;
pub mod cli_data;
pub mod clock;
pub mod config;
pub mod demo;
pub mod http;
pub mod import;
pub mod logging;
pub mod server;
pub mod service;
pub mod slip;
pub mod store;
