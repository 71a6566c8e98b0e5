//! The index answers exactly like the linear definitions in `select`,
//! through random sequences of leases, outcomes, time passing, resets,
//! retirements and limit changes.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::provider::ProviderPool;
use super::select;
use super::state::KeyState;
use crate::secret::Secret;
use crate::vocab::{Failure, FailureKind, Outcome};

const MODELS: [&str; 3] = ["a", "b", "c"];
const SEEDS: u64 = 300;
const STEPS: usize = 400;

/// xorshift64*: a small deterministic generator, so a failure names a
/// seed that replays it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
        .unwrap()
        .to_utc()
}

fn limit(rng: &mut Rng) -> Option<u32> {
    [Some(1), Some(2), None][rng.below(3) as usize]
}

fn outcome(rng: &mut Rng) -> Outcome {
    let hint = rng
        .chance(40)
        .then(|| Duration::from_secs(1 + rng.below(600)));
    match rng.below(8) {
        0..=2 => Outcome::Success {
            prompt_tokens: rng.below(50),
            completion_tokens: rng.below(50),
        },
        3 => Outcome::ClientError,
        4 => Outcome::Abandoned,
        5 => Outcome::Interrupted {
            prompt_tokens: 1,
            completion_tokens: 0,
        },
        _ => {
            let kinds = [
                FailureKind::RateLimited,
                FailureKind::Quota,
                FailureKind::Transient,
                FailureKind::KeyRejected,
            ];
            Outcome::Failed(Failure {
                kind: kinds[rng.below(4) as usize],
                hint,
            })
        }
    }
}

fn exclusion(rng: &mut Rng, keys: usize) -> Vec<usize> {
    (0..keys).filter(|_| rng.chance(25)).collect()
}

/// Asks the pool and the definitions the same questions.
fn check(pool: &mut ProviderPool, limit: Option<u32>, exclude: &[usize], now: DateTime<Utc>) {
    for model in MODELS {
        let expected = select::pick(pool.keys(), model, limit, exclude, now);
        assert_eq!(pool.pick(model, exclude, now), expected, "pick {model}");
        let expected = select::later(pool.keys(), model, exclude, now);
        assert_eq!(pool.later(model, exclude, now), expected, "later {model}");
    }
}

fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 1 + rng.below(12) as usize;
    let keys = (0..n)
        .map(|i| KeyState::new(Secret::new(format!("sk-index-test-{seed}-{i:03}"))))
        .collect();
    let mut limit = limit(&mut rng);
    let mut pool = ProviderPool::new(limit, keys);
    let mut now = start();
    let mut leases: Vec<(usize, &str)> = Vec::new();
    for _ in 0..STEPS {
        match rng.below(20) {
            0..=7 => {
                let model = MODELS[rng.below(3) as usize];
                let exclude = exclusion(&mut rng, n);
                let expected = select::pick(pool.keys(), model, limit, &exclude, now);
                let picked = pool.pick(model, &exclude, now);
                assert_eq!(picked, expected, "acquire {model} excluding {exclude:?}");
                if let Some(index) = picked {
                    assert!(pool.take(index, model, 0, now).is_some());
                    leases.push((index, model));
                }
            }
            8..=13 if !leases.is_empty() => {
                let (index, model) = leases.swap_remove(rng.below(leases.len() as u64) as usize);
                let next_reset = now + TimeDelta::hours(6);
                pool.finish(index, model, outcome(&mut rng), (0, 0), now, next_reset);
            }
            14..=16 => now += TimeDelta::seconds(rng.below(200) as i64),
            17 => {
                let i = rng.below(n as u64) as usize;
                let key = &mut pool.keys_mut()[i];
                key.retired = !key.retired;
            }
            18 => match rng.below(3) {
                0 => pool.keys_mut().iter_mut().for_each(KeyState::daily_reset),
                1 => pool.keys_mut().iter_mut().for_each(|k| {
                    k.clear(None);
                }),
                _ => {
                    limit = self::limit(&mut rng);
                    pool.set_limit(limit);
                }
            },
            _ => {}
        }
        let exclude = exclusion(&mut rng, n);
        check(&mut pool, limit, &exclude, now);
        check(&mut pool, limit, &[], now);
    }
}

#[test]
fn the_index_picks_like_the_linear_definition() {
    for seed in 0..SEEDS {
        let result = std::panic::catch_unwind(|| run(seed));
        assert!(result.is_ok(), "diverged with seed {seed}");
    }
}

#[test]
fn many_keys_stay_in_rank_order_across_leases() {
    let keys = (0..1000)
        .map(|i| KeyState::new(Secret::new(format!("sk-index-order-{i:04}"))))
        .collect();
    let mut pool = ProviderPool::new(Some(1), keys);
    let now = start();
    let mut seen = Vec::new();
    // With one slot per key, 1,000 leases take every key once, in order.
    while let Some(index) = pool.pick("m", &[], now) {
        assert!(pool.take(index, "m", 0, now).is_some());
        seen.push(index);
    }
    assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        pool.later("m", &[], now),
        Some(select::Later::Busy { rest_ends: None })
    );
    // Released with a success, key 0 goes behind the keys with none.
    pool.finish(
        0,
        "m",
        Outcome::Success {
            prompt_tokens: 1,
            completion_tokens: 1,
        },
        (0, 0),
        now,
        now,
    );
    pool.finish(1, "m", Outcome::Abandoned, (0, 0), now, now);
    assert_eq!(pool.pick("m", &[], now), Some(1));
    assert_eq!(pool.pick("m", &[1], now), Some(0));
}

#[test]
fn many_model_names_keep_the_index_small_and_right() {
    let keys = (0..3)
        .map(|i| KeyState::new(Secret::new(format!("sk-index-models-{i:04}"))))
        .collect();
    let mut pool = ProviderPool::new(Some(1), keys);
    let now = start();
    for m in 0..1000 {
        let model = format!("model-{m}");
        let index = pool.pick(&model, &[], now).unwrap();
        assert!(pool.take(index, &model, 0, now).is_some());
        assert_eq!(
            pool.pick(&model, &[], now),
            select::pick(pool.keys(), &model, Some(1), &[], now)
        );
        pool.finish(index, &model, Outcome::Abandoned, (0, 0), now, now);
    }
    assert!(pool.indexed_models() <= 256);
}
