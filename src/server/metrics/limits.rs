//! The per-key limits' gauges, per provider and limit (`rpm`, `rpd`,
//! `tpm`), summed over its keys and models — labels stay low-cardinality,
//! with no key ids: `stats`, `/v1/usage` and the status page have the
//! counts per key and model.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{escape, header};
use crate::keypool::report::UsageReport;

/// Per provider and limit: (sum of the caps, sum of what their windows
/// used); and per provider, the keys at a limit for some model.
type Sums = (
    BTreeMap<(String, &'static str), (u64, u64)>,
    BTreeMap<String, u64>,
);

/// `llm_proxy_limit`, `llm_proxy_limit_used` and `llm_proxy_keys_capped`.
pub fn render(out: &mut String, pool: &UsageReport) {
    let (sums, capped) = sums(pool);
    if sums.is_empty() {
        return;
    }
    // (name, help, whether it shows what was used rather than the caps)
    let gauges = [
        (
            "llm_proxy_limit",
            "Per-key limits, summed over keys and models (requests or tokens per window).",
            false,
        ),
        (
            "llm_proxy_limit_used",
            "What the per-key limits' current windows used, summed over keys and models.",
            true,
        ),
    ];
    for (name, help, shows_used) in gauges {
        header(out, name, "gauge", help);
        for ((provider, limit), (cap, used)) in &sums {
            let _ = writeln!(
                out,
                "{name}{{provider=\"{provider}\",limit=\"{limit}\"}} {}",
                if shows_used { used } else { cap }
            );
        }
    }
    header(
        out,
        "llm_proxy_keys_capped",
        "gauge",
        "Keys at one of their per-key limits for at least one model, per provider.",
    );
    for (provider, n) in &capped {
        let _ = writeln!(out, "llm_proxy_keys_capped{{provider=\"{provider}\"}} {n}");
    }
}

fn sums(pool: &UsageReport) -> Sums {
    let mut sums = BTreeMap::new();
    let mut capped = BTreeMap::new();
    for (provider, p) in &pool.providers {
        let name = escape(provider);
        let mut at_cap = 0;
        for key in &p.keys {
            let mut full = false;
            for limits in key.models.values().filter_map(|m| m.limits.as_ref()) {
                for (limit, count) in [
                    ("rpm", limits.rpm),
                    ("rpd", limits.rpd),
                    ("tpm", limits.tpm),
                ] {
                    let Some(count) = count else { continue };
                    let sum: &mut (u64, u64) = sums.entry((name.clone(), limit)).or_default();
                    sum.0 += count.limit;
                    sum.1 += count.used;
                    full |= count.used >= count.limit;
                }
            }
            at_cap += u64::from(full);
        }
        if sums.keys().any(|(p, _)| *p == name) {
            capped.insert(name, at_cap);
        }
    }
    (sums, capped)
}
