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
//! `mock-upstream` dev crate in `crates/mock-upstream/`). For benchmarks,
//! a streamed chat request for the model `stream200` gets 200 events (a
//! role chunk, 198 one-word chunks and a finish chunk, then `[DONE]`), all
//! at once.

/// Worker threads of the mock; one leaves a core to the proxy on a
/// two-core machine.
const WORKERS: usize = 1;

/// The model whose streams have 200 events (`bench/run.sh`).
const LONG_STREAM_MODEL: &str = "stream200";

#[actix_web::main]
async fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let mock = mock_upstream::MockUpstream::start_on(port, WORKERS).await;
    let words = vec!["word"; 198];
    let stream = mock_upstream::StreamScript::chat(LONG_STREAM_MODEL, &words, false);
    mock.reply_when(
        &format!("\"{LONG_STREAM_MODEL}\""),
        mock_upstream::Reply::ok().with_stream(stream),
    );
    println!("mock upstream at {}", mock.base_url);
    std::future::pending::<()>().await;
}
