//! A local OpenAI-compatible upstream for trying the proxy without real
//! provider keys, and for benchmarks: answers chat (streamed or not),
//! embeddings and the model list at once, for any key.
//!
//! ```sh
//! cargo run --release --example mock_upstream -- 9001
//! # then in .env: MOCK_API_BASE=http://127.0.0.1:9001/v1  MOCK_API_KEY=anything
//! ```
//!
//! It is the same scripted mock the integration tests use (the
//! `mock-upstream` dev crate in `crates/mock-upstream/`).

/// Worker threads of the mock; one leaves a core to the proxy on a
/// two-core machine.
const WORKERS: usize = 1;

#[actix_web::main]
async fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let mock = mock_upstream::MockUpstream::start_on(port, WORKERS).await;
    println!("mock upstream at {}", mock.base_url);
    std::future::pending::<()>().await;
}
