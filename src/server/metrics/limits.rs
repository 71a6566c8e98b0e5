//! The per-key limits' gauges: each (key, model)'s cap and what its
//! current window used, from the pool's report. A key is labelled by its
//! mask, never the key.

use std::fmt::Write;

use super::{escape, header};
use crate::keypool::report::{LimitCount, UsageReport};

/// `llm_proxy_key_limit` and `llm_proxy_key_limit_used`, labelled by
/// provider, key, model and limit (`rpm`, `rpd`, `tpm`).
pub fn render(out: &mut String, pool: &UsageReport) {
    let mut samples: Vec<(String, LimitCount)> = Vec::new();
    for (provider, p) in &pool.providers {
        for key in &p.keys {
            for (model, m) in &key.models {
                let Some(limits) = &m.limits else { continue };
                for (name, count) in [
                    ("rpm", limits.rpm),
                    ("rpd", limits.rpd),
                    ("tpm", limits.tpm),
                ] {
                    if let Some(count) = count {
                        let labels = format!(
                            "provider=\"{}\",key=\"{}\",model=\"{}\",limit=\"{name}\"",
                            escape(provider),
                            escape(&key.masked),
                            escape(model)
                        );
                        samples.push((labels, count));
                    }
                }
            }
        }
    }
    if samples.is_empty() {
        return;
    }
    header(
        out,
        "llm_proxy_key_limit",
        "gauge",
        "Per-key limits (requests or tokens per window).",
    );
    for (labels, count) in &samples {
        let _ = writeln!(out, "llm_proxy_key_limit{{{labels}}} {}", count.limit);
    }
    header(
        out,
        "llm_proxy_key_limit_used",
        "gauge",
        "What each per-key limit's current window used.",
    );
    for (labels, count) in &samples {
        let _ = writeln!(out, "llm_proxy_key_limit_used{{{labels}}} {}", count.used);
    }
}
