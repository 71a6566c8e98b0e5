//! Key pool micro-benchmarks (criterion): how many acquire + release pairs
//! the `KeyPool` actor serves per second, with 10 and with 10,000 keys.
//! Choosing a key costs O(log n) (the pool keeps its keys sorted per
//! model), so the two sizes should be close.
//!
//! ```sh
//! cargo bench --bench keypool -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups (throughput is reported per acquire + release, i.e. ops/s):
//! - `actor_sequential/N`: one task doing `acquire` then `Lease::finish`
//!   in a loop against a pool started on the same thread (`.start()`).
//! - `actor_concurrent8/N`: the pool on its own arbiter thread, as the
//!   server runs it (`start_on_own_thread`), with 8 tasks on the caller's
//!   thread each looping acquire + finish. 8 < the key count, so nobody
//!   queues for a key; this measures cross-thread messaging.
//!
//! Every pool has one provider, `max_concurrent_per_key: Some(1)` (the
//! proxy's default), no store, and one model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, System};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llm_key_proxy::keypool::{acquire, AcquireKey, KeyPool, PoolOptions, PoolProvider};
use llm_key_proxy::secret::Secret;
use llm_key_proxy::vocab::Outcome;

const PROVIDER: &str = "bench";
const MODEL: &str = "bench-model";
const LIMIT: Option<u32> = Some(1);
const SIZES: [usize; 2] = [10, 10_000];
const CONCURRENT_TASKS: u64 = 8;

fn secrets(n: usize) -> Vec<Secret> {
    (0..n)
        .map(|i| Secret::new(format!("sk-bench-key-{i:06}")))
        .collect()
}

fn pool(n: usize) -> KeyPool {
    let provider = PoolProvider {
        name: PROVIDER.into(),
        keys: secrets(n),
        max_concurrent_per_key: LIMIT,
        ..Default::default()
    };
    KeyPool::new([provider], None, PoolOptions::default())
}

fn request() -> AcquireKey {
    AcquireKey {
        provider: PROVIDER.into(),
        model: MODEL.into(),
        exclude: vec![],
        wait_budget: Duration::ZERO,
        prefer: None,
        pin: None,
        tokens: 0,
    }
}

/// `n` sequential acquire + finish pairs.
async fn acquire_release(addr: &Addr<KeyPool>, n: u64) {
    for _ in 0..n {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let lease = acquire(addr, request(), deadline)
            .await
            .expect("a free key");
        black_box(lease.index());
        lease.finish(Outcome::Success {
            prompt_tokens: 1,
            completion_tokens: 1,
        });
    }
}

fn bench_actor_sequential(c: &mut Criterion) {
    let mut group = c.benchmark_group("actor_sequential");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let system = System::new();
        let addr = system.block_on(async move { pool(n).start() });
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    acquire_release(&addr, iters).await;
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn bench_actor_concurrent(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("actor_concurrent{CONCURRENT_TASKS}"));
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let system = System::new();
        let (addr, arbiter) = system.block_on(async move { pool(n).start_on_own_thread() });
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    // Split `iters` over the tasks; the first ones take the
                    // remainder.
                    let per = iters / CONCURRENT_TASKS;
                    let extra = iters % CONCURRENT_TASKS;
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
                        .map(|t| {
                            let addr = addr.clone();
                            let count = per + u64::from(t < extra);
                            actix_rt::spawn(async move { acquire_release(&addr, count).await })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("bench task");
                    }
                    start.elapsed()
                })
            })
        });
        drop(addr);
        arbiter.stop();
        arbiter.join().expect("pool arbiter");
    }
    group.finish();
}

criterion_group!(benches, bench_actor_sequential, bench_actor_concurrent);
criterion_main!(benches);
