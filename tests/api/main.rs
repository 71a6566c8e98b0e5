//! Integration tests: the real proxy on 127.0.0.1:0 in front of a scripted
//! mock upstream (also a real HTTP server on port 0).
// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod mock_upstream;

mod anthropic;
mod bounded_state;
mod catalog;
mod chat;
mod concurrency;
mod conformance;
mod disconnect;
mod errors;
mod gemini;
mod messages;
mod metrics;
mod persistence;
mod reload;
mod request_logs;
mod resilience;
mod rotation;
mod status;
mod streaming;
mod tokens;
