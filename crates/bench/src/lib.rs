//! `sscard-bench`: the load tool of sscard (issue 9, `BENCHMARKS.md`).
//!
//! A scenario starts a real `sscard serve` (the release binary) on a fresh
//! database ([`db`]), loads generated data through the `sscard` library
//! crate, exactly as the server writes it ([`seed`]), drives the server over
//! HTTP with keep-alive connections from a fixed number of closed-loop
//! workers ([`load`]), checks every answer's status and key fields (a fast
//! wrong answer is an error, never a result), and reports throughput,
//! latency percentiles, the server's peak resident memory and the errors
//! ([`report`]). [`baseline`] is the storage's own limit for the same
//! writes: the same rows in the same tables at the same durability, from a
//! minimal program without HTTP, rules or serialisation.

pub mod baseline;
pub mod child;
pub mod db;
pub mod http;
pub mod load;
pub mod report;
pub mod scenarios;
pub mod seed;
pub mod server;
