//! llm-key-proxy: one OpenAI-compatible endpoint in front of many LLM
//! provider keys.
//!
//! Clients send `model: "<provider>/<model>"`; the proxy leases the best key
//! of that provider's pool from the [`keypool::KeyPool`] actor, calls the
//! provider through an [`worker::UpstreamWorker`] actor, and on failure
//! rotates to the next key. Usage per key and model is kept in sled.
//!
//! # Layout
//!
//! - `main.rs` — the binary: flags, logging, configuration, run.
//! - [`cli`] — command-line flags.
//! - [`config`] — settings layering, `.env`, provider discovery, validation.
//! - [`secret`] — the `Secret` newtype (masked `Debug`/`Display`) and key ids.
//! - [`error`] — `InitError` (startup) and `ApiError` (one request).
//! - [`keypool`] — the `KeyPool` actor: selection, concurrency, waiters,
//!   leases, usage.
//! - [`store`] — sled persistence with versioned records.
//! - [`resilience`] — classification, retry hints, cooldown policy, backoff,
//!   the daily reset schedule and the injectable clock.
//! - [`providers`] — provider presets and the OpenAI-compatible wire format.
//! - [`worker`] — the `UpstreamWorker` actor making upstream calls with awc.
//! - [`sse`] — server-sent event parsing and framing.
//! - [`server`] — actix-web routes, auth, the rotation loop, stream relay.
//! - [`stats`] — the `stats` subcommand.

pub mod cli;
pub mod config;
pub mod error;
pub mod keypool;
pub mod providers;
pub mod resilience;
pub mod secret;
pub mod server;
pub mod sse;
pub mod stats;
pub mod store;
pub mod worker;
