//! The key pool without the HTTP server: acquire a key, report how the call
//! went, rotate, and read usage.
//!
//! ```sh
//! cargo run -p llm-key-pool --example library
//! ```

use std::time::Duration;

use actix::Actor;
use llm_key_pool::keypool::{acquire, AcquireKey, GetUsage, KeyPool, PoolOptions, PoolProvider};
use llm_key_pool::secret::Secret;
use llm_key_pool::vocab::{Failure, FailureKind, Outcome};
use tokio::time::Instant;

fn request(model: &str) -> AcquireKey {
    AcquireKey {
        provider: "openai".into(),
        model: model.into(),
        exclude: Vec::new(),
        wait_budget: Duration::ZERO,
        prefer: None,
        pin: None,
        tokens: 0,
    }
}

#[actix_rt::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two keys; no store, so nothing is persisted (pass a `Store` to keep
    // cooldowns and usage across restarts).
    let provider = PoolProvider {
        name: "openai".into(),
        keys: vec![
            Secret::new("sk-example-key-number-one-0001"),
            Secret::new("sk-example-key-number-two-0002"),
        ],
        max_concurrent_per_key: Some(1),
        ..Default::default()
    };
    let pool = KeyPool::new([provider], None, PoolOptions::default()).start();
    let deadline = Instant::now() + Duration::from_secs(5);

    // Lease the best key. `Display` masks it; `expose()` is for the request.
    let lease = acquire(&pool, request("gpt-4o-mini"), deadline).await?;
    println!("calling with {}", lease.key());
    // … the provider answers 429 with `Retry-After: 30` …
    lease
        .finish_durably(Outcome::Failed(Failure {
            kind: FailureKind::RateLimited,
            hint: Some(Duration::from_secs(30)),
        }))
        .await;

    // The next request rotates to the other key: the first rests 30 s.
    let lease = acquire(&pool, request("gpt-4o-mini"), deadline).await?;
    println!("rotated to {}", lease.key());
    lease.finish(Outcome::Success {
        prompt_tokens: 12,
        completion_tokens: 30,
    });

    // Usage and key state, as GET /v1/usage shows them.
    let report = pool.send(GetUsage).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
