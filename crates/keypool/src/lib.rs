//! The key pool of llm-key-proxy, without the HTTP server: which key of a
//! provider to use next, how failures rest a key, usage per key and model,
//! and their persistence in sled — or, for several replicas, their sharing
//! through Redis ([`keypool::KeyPool::with_shared_state`]).
//! `llm-key-proxy` re-exports every module, so `llm_key_proxy::keypool::…`
//! paths work too.
//!
//! Lease a key, call the provider yourself, and report the outcome; the
//! pool rotates, cools keys down and counts usage (the whole round —
//! a 429, rotation, usage — is `cargo run -p llm-key-pool --example
//! library`):
//!
//! ```no_run
//! use std::time::Duration;
//! use actix::Actor;
//! use llm_key_pool::keypool::{acquire, AcquireKey, KeyPool, PoolOptions, PoolProvider};
//! use llm_key_pool::secret::Secret;
//! use llm_key_pool::vocab::Outcome;
//!
//! # async fn demo() -> Result<(), llm_key_pool::keypool::AcquireError> {
//! let provider = PoolProvider {
//!     name: "groq".into(),
//!     keys: vec![Secret::new("gsk_first_key"), Secret::new("gsk_second_key")],
//!     max_concurrent_per_key: Some(1),
//!     ..Default::default()
//! };
//! let pool = KeyPool::new([provider], None, PoolOptions::default()).start();
//! let wanted = AcquireKey {
//!     provider: "groq".into(),
//!     model: "llama-3.1-8b-instant".into(),
//!     exclude: vec![],
//!     wait_budget: Duration::ZERO,
//!     prefer: None,
//!     pin: None,
//!     tokens: 0,
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
//! Bottom to top; a module uses only the ones listed before it.
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
//!   leases, usage.

pub mod keypool;
pub mod resilience;
pub mod secret;
pub mod shared_state;
// The one place that owns the database (and reads the clock for its backup
// file names); see clippy.toml.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod store;
pub mod vocab;
