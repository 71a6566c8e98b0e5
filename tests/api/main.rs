//! Integration tests: the real proxy on 127.0.0.1:0 in front of a scripted
//! mock upstream (the `mock-upstream` dev crate, a real HTTP server on port 0).
// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests compare the app's wall-clock times with the real clock.
#![allow(clippy::disallowed_methods)]

mod helpers;

mod admin_keys;
mod admin_keys_file;
mod admin_keys_input;
mod anthropic;
mod bounded_state;
mod browser;
mod catalog;
mod chat;
mod claude_code;
mod codex_cli;
mod codex_cli_wire;
mod completions;
mod concurrency;
mod conformance;
mod deadlines;
mod disconnect;
mod embeddings;
mod errors;
mod failures;
mod gemini;
mod limits;
mod loops;
mod messages;
mod messages_input;
mod metrics;
mod openai_sdk;
mod persistence;
mod reload;
mod request_logs;
mod resilience;
mod responses;
mod responses_errors;
mod responses_native;
mod responses_stored;
mod responses_tools;
mod responses_wire_tools;
mod rotation;
mod routes;
mod routes_apis;
mod routes_config;
mod secrets;
mod status;
mod sticky;
mod streaming;
mod tokens;
mod validation;
