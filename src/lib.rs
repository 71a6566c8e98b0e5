//! llm-key-proxy: one OpenAI-compatible endpoint in front of many LLM
//! provider keys.
//!
//! Clients send `model: "<provider>/<model>"`; the proxy leases the best key
//! of that provider's pool from the [`keypool::KeyPool`] actor, calls the
//! provider through its HTTP worker's [`worker::UpstreamWorker`], and on failure
//! rotates to the next key. Usage per key and model is kept in sled; with
//! several replicas, key state is shared through Redis.
//!
//! # Using the key pool as a library
//!
//! The pool and its resilience rules work without the HTTP server; they are
//! the `llm-key-pool` crate (`crates/keypool/`), which a library user can
//! depend on alone, without actix-web or awc: see its crate docs and
//! `cargo run -p llm-key-pool --example library`.
//!
//! # Layout
//!
//! Dependencies point one way, bottom to top: a module uses only the ones
//! listed before it. `.ci/run` checks it against this list (and fails on a
//! module missing from it), so keep the list in that order.
//!
//! The first six are the `llm-key-pool` crate (`crates/keypool/`),
//! re-exported here; it builds without actix-web or awc, and the compiler
//! keeps it from using anything of the proxy.
//!
//! - [`vocab`] — the words every layer shares: failure kinds, `Failure`,
//!   verdicts, outcomes, usage counters, transport errors.
//! - [`secret`] — the `Secret` newtype (masked `Debug`/`Display`) and key ids.
//! - [`resilience`] — pure rules: classification, generic retry hints,
//!   cooldown policy, backoff, the daily reset schedule and the injectable
//!   clock.
//! - [`store`] — sled persistence with versioned records.
//! - [`shared_state`] — key state shared by several replicas through
//!   Redis: the connection, the scripts, names, the degraded flag.
//! - [`keypool`] — the `KeyPool` actor: selection, concurrency, waiters,
//!   leases, usage. Knows nothing of the configuration.
//! - [`error`] — `InitError` (startup) and `ApiError` (one request).
//! - [`providers`] — provider presets, how a key is sent, and the upstream
//!   wire formats, each with its own error knowledge (Gemini's `RetryInfo`,
//!   Anthropic's rate-limit headers).
//! - [`sse`] — server-sent event parsing and framing.
//! - [`inbound`] — the client-facing APIs behind one trait, `InboundApi`:
//!   `openai_chat.rs` (OpenAI chat), `anthropic/` (Anthropic messages) and
//!   `responses/` (OpenAI Responses); `shape.rs`, the checks every request
//!   gets; `chunk.rs`, how their stream translators read an OpenAI chunk.
//! - [`tokens`] — token counting with tiktoken.
//! - [`worker`] — each HTTP worker's `UpstreamWorker`, making upstream calls with awc.
//! - [`reqlog`] — the optional request log.
//! - [`cli`] — command-line flags.
//! - [`config`] — settings layering, `.env`, provider discovery, routes
//!   (`routes.rs`), validation, misspelt key variables; builds the key
//!   pool's `PoolProvider`s.
//! - [`setup`] — the `setup` subcommand: the `.env` key wizard, and the
//!   `.env` editing and writing that the key routes share with it.
//! - [`server`] — actix-web: `routes.rs` (the route table, one line per
//!   client API), `serve.rs` (the generic handler), `middleware.rs` (request
//!   ids, the proxy key in each API's way), `rotation.rs` (the rotation
//!   loop, returning a typed answer; `unanswered.rs`, what the client is
//!   told when it ends without one), `attempt.rs` (one upstream call),
//!   `fallback.rs` (a request's walk over a route's targets), `sticky.rs`
//!   (conversations pinned to keys), `stream_relay.rs` (a stream on its
//!   way to the client), `admin_keys.rs` / `admin_keys_file.rs` (keys
//!   listed, disabled, added and removed at runtime).
//! - [`stats`] — the `stats` subcommand.
//! - [`logging`] — the process logger; malformed-request noise from the
//!   HTTP layer demoted to debug.
//! - `main.rs` — the binary: flags, logging, configuration, run.

pub mod cli;
pub mod config;
pub mod error;
pub mod inbound;
pub mod logging;
pub mod providers;
pub mod reqlog;
pub mod server;
pub mod setup;
pub mod sse;
pub mod stats;
pub mod tokens;
pub mod worker;

// The key pool, its rules, its store and the shared vocabulary are the
// `llm-key-pool` crate (crates/keypool), which compiles without the web
// server; re-exported so `crate::keypool` and `llm_key_proxy::keypool` paths
// keep working.
pub use llm_key_pool::{keypool, resilience, secret, shared_state, store, vocab};
