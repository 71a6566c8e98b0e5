//! llm-key-proxy: one OpenAI-compatible endpoint in front of many LLM
//! provider keys.
//!
//! Clients send `model: "<provider>/<model>"`; the proxy leases the best key
//! of that provider's pool from the [`keypool::KeyPool`] actor, calls the
//! provider through an [`worker::UpstreamWorker`] actor, and on failure
//! rotates to the next key. Usage per key and model is kept in sled.
//!
//! # Using the key pool as a library
//!
//! The pool and its resilience rules work without the HTTP server. Lease a
//! key, call the provider yourself, and report the outcome; the pool
//! rotates, cools keys down and counts usage (see `examples/library.rs`):
//!
//! ```no_run
//! use std::time::Duration;
//! use actix::Actor;
//! use llm_key_proxy::keypool::{acquire, AcquireKey, KeyPool, Outcome, PoolOptions, PoolProvider};
//! use llm_key_proxy::secret::Secret;
//!
//! # async fn demo() -> Result<(), llm_key_proxy::keypool::AcquireError> {
//! let provider = PoolProvider {
//!     name: "groq".into(),
//!     keys: vec![Secret::new("gsk_first_key"), Secret::new("gsk_second_key")],
//!     max_concurrent_per_key: Some(1),
//! };
//! let pool = KeyPool::new([provider], None, PoolOptions::default()).start();
//! let wanted = AcquireKey {
//!     provider: "groq".into(),
//!     model: "llama-3.1-8b-instant".into(),
//!     exclude: vec![],
//!     wait_budget: Duration::ZERO,
//! };
//! let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
//! let lease = acquire(&pool, wanted, deadline).await?;
//! // … call the provider with `lease.key().expose()` …
//! lease.finish(Outcome::Success { prompt_tokens: 10, completion_tokens: 20 });
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - `main.rs` — the binary: flags, logging, configuration, run.
//! - [`logging`] — the process logger; malformed-request noise from the
//!   HTTP layer demoted to debug.
//! - [`cli`] — command-line flags.
//! - [`config`] — settings layering, `.env`, provider discovery, validation,
//!   misspelt key variables.
//! - [`secret`] — the `Secret` newtype (masked `Debug`/`Display`) and key ids.
//! - [`error`] — `InitError` (startup) and `ApiError` (one request).
//! - [`keypool`] — the `KeyPool` actor: selection, concurrency, waiters,
//!   leases, usage.
//! - [`store`] — sled persistence with versioned records.
//! - [`resilience`] — classification, retry hints, cooldown policy, backoff,
//!   the daily reset schedule and the injectable clock.
//! - [`providers`] — provider presets and the upstream wire formats
//!   (OpenAI-compatible, Gemini, Anthropic).
//! - [`inbound`] — the client-facing APIs behind one trait,
//!   `InboundApi`: `openai_chat.rs` (OpenAI chat) and `anthropic/`
//!   (Anthropic messages); `shape.rs`, the checks every request gets.
//! - [`worker`] — the `UpstreamWorker` actor making upstream calls with awc.
//! - [`sse`] — server-sent event parsing and framing.
//! - [`server`] — actix-web: `routes.rs` (the route table, one line per
//!   client API), `serve.rs` (the generic handler), `middleware.rs` (request
//!   ids, the proxy key in each API's way), `rotation.rs` (the rotation
//!   loop, returning a typed answer), `attempt.rs` (one upstream call),
//!   `stream_relay.rs` (a stream on its way to the client).
//! - [`stats`] — the `stats` subcommand.
//! - [`setup`] — the `setup` subcommand: the `.env` key wizard.
//! - [`tokens`] — token counting with tiktoken.

pub mod cli;
pub mod config;
pub mod error;
pub mod inbound;
pub mod keypool;
pub mod logging;
pub mod providers;
pub mod reqlog;
pub mod resilience;
pub mod secret;
pub mod server;
pub mod setup;
pub mod sse;
pub mod stats;
// The one place that owns the database (and reads the clock for its backup
// file names); see clippy.toml.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod store;
pub mod tokens;
pub mod worker;
