//! Prometheus metrics (`GET /metrics`, text format): requests by provider,
//! model and status; upstream attempts by outcome class; keys cooling down
//! or locked per provider; request and upstream latency histograms;
//! requests in flight.
//!
//! Labels stay low-cardinality: no key ids, and model names — which clients
//! choose — are capped at [`MAX_MODEL_SERIES`] distinct values, the rest
//! counted as `other`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::keypool::report::UsageReport;

/// Distinct (provider, model) pairs labelled before new ones become
/// `other`: enough for real deployments, bounded against arbitrary names.
pub const MAX_MODEL_SERIES: usize = 500;

/// Histogram buckets in seconds: sub-millisecond proxy overhead up to
/// minute-long completions.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    attempts: Mutex<BTreeMap<(String, &'static str), u64>>,
    request_seconds: Mutex<BTreeMap<String, Histogram>>,
    upstream_seconds: Mutex<BTreeMap<String, Histogram>>,
    models_seen: Mutex<HashSet<(String, String)>>,
    in_flight: AtomicI64,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counts a request in flight until dropped.
pub struct InFlight<'a>(&'a Metrics);

// === impl Metrics ===

impl Metrics {
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// One finished client request. `provider`/`model` are empty for routes
    /// that name none.
    pub fn request(
        &self,
        route: &str,
        provider: &str,
        model: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let model = self.model_label(provider, model);
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((provider.to_string(), model, status))
                .or_default() += 1;
        }
        if let Ok(mut histograms) = self.request_seconds.lock() {
            histograms
                .entry(route.to_string())
                .or_default()
                .observe(elapsed);
        }
    }

    /// One upstream attempt and how it was judged.
    pub fn attempt(&self, provider: &str, class: &'static str, elapsed: Duration) {
        if let Ok(mut attempts) = self.attempts.lock() {
            *attempts.entry((provider.to_string(), class)).or_default() += 1;
        }
        if let Ok(mut histograms) = self.upstream_seconds.lock() {
            histograms
                .entry(provider.to_string())
                .or_default()
                .observe(elapsed);
        }
    }

    fn model_label(&self, provider: &str, model: &str) -> String {
        let Ok(mut seen) = self.models_seen.lock() else {
            return "other".into();
        };
        let pair = (provider.to_string(), model.to_string());
        if seen.contains(&pair) || seen.len() < MAX_MODEL_SERIES {
            seen.insert(pair);
            model.to_string()
        } else {
            "other".into()
        }
    }

    /// The exposition text; key gauges come from the pool's report.
    pub fn render(&self, pool: &UsageReport, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "llm_proxy_requests_total",
            "counter",
            "Client requests by provider, model and status.",
        );
        if let Ok(requests) = self.requests.lock() {
            for ((provider, model, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "llm_proxy_requests_total{{provider=\"{}\",model=\"{}\",status=\"{status}\"}} {n}",
                    escape(provider),
                    escape(model)
                );
            }
        }
        header(
            &mut out,
            "llm_proxy_upstream_attempts_total",
            "counter",
            "Upstream attempts by provider and outcome class.",
        );
        if let Ok(attempts) = self.attempts.lock() {
            for ((provider, class), n) in attempts.iter() {
                let _ = writeln!(
                    out,
                    "llm_proxy_upstream_attempts_total{{provider=\"{}\",class=\"{class}\"}} {n}",
                    escape(provider)
                );
            }
        }
        header(
            &mut out,
            "llm_proxy_keys_cooling",
            "gauge",
            "Keys cooling down for at least one model, per provider.",
        );
        header(
            &mut out,
            "llm_proxy_keys_locked",
            "gauge",
            "Keys locked out (rejected by the provider), per provider.",
        );
        header(
            &mut out,
            "llm_proxy_keys",
            "gauge",
            "Configured keys per provider.",
        );
        for (provider, p) in &pool.providers {
            let locked = p
                .keys
                .iter()
                .filter(|k| k.locked_until.is_some_and(|t| t > now))
                .count();
            let cooling = p
                .keys
                .iter()
                .filter(|k| {
                    k.models
                        .values()
                        .any(|m| m.cooldown_until.is_some_and(|t| t > now))
                })
                .count();
            let provider = escape(provider);
            let _ = writeln!(
                out,
                "llm_proxy_keys_cooling{{provider=\"{provider}\"}} {cooling}"
            );
            let _ = writeln!(
                out,
                "llm_proxy_keys_locked{{provider=\"{provider}\"}} {locked}"
            );
            let _ = writeln!(
                out,
                "llm_proxy_keys{{provider=\"{provider}\"}} {}",
                p.keys.len()
            );
        }
        header(
            &mut out,
            "llm_proxy_in_flight_requests",
            "gauge",
            "Client requests being served.",
        );
        let _ = writeln!(
            out,
            "llm_proxy_in_flight_requests {}",
            self.in_flight.load(Ordering::Relaxed).max(0)
        );
        histograms(
            &mut out,
            "llm_proxy_request_duration_seconds",
            "route",
            "Time to answer (to the first byte for streams).",
            &self.request_seconds,
        );
        histograms(
            &mut out,
            "llm_proxy_upstream_duration_seconds",
            "provider",
            "Time of one upstream attempt to its answer's head.",
            &self.upstream_seconds,
        );
        out
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl Histogram ===

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bucket, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bucket {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histograms(
    out: &mut String,
    name: &str,
    label: &str,
    help: &str,
    source: &Mutex<BTreeMap<String, Histogram>>,
) {
    header(out, name, "histogram", help);
    let Ok(histograms) = source.lock() else {
        return;
    };
    for (value, h) in histograms.iter() {
        let value = escape(value);
        for (bucket, count) in BUCKETS.iter().zip(h.counts.iter()) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{label}=\"{value}\",le=\"{bucket}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", h.count);
    }
}

/// Escapes a label value (`\`, `"`, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_escapes_labels() {
        let m = Metrics::default();
        m.request(
            "/v1/chat/completions",
            "groq",
            "llama\"3",
            200,
            Duration::from_millis(3),
        );
        m.request(
            "/v1/chat/completions",
            "groq",
            "llama\"3",
            200,
            Duration::from_millis(30),
        );
        m.attempt("groq", "rate_limited", Duration::from_millis(2));
        let text = m.render(&UsageReport::default(), Utc::now());
        assert!(
            text.contains(
                r#"llm_proxy_requests_total{provider="groq",model="llama\"3",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"llm_proxy_upstream_attempts_total{provider="groq",class="rate_limited"} 1"#
        ));
        assert!(text.contains(r#"llm_proxy_request_duration_seconds_bucket{route="/v1/chat/completions",le="0.005"} 1"#));
        assert!(text.contains(
            r#"llm_proxy_request_duration_seconds_count{route="/v1/chat/completions"} 2"#
        ));
        assert!(text.contains("llm_proxy_in_flight_requests 0"));
    }

    #[test]
    fn model_labels_are_capped() {
        let m = Metrics::default();
        for i in 0..MAX_MODEL_SERIES + 10 {
            m.request(
                "/v1/chat/completions",
                "p",
                &format!("m{i}"),
                200,
                Duration::ZERO,
            );
        }
        let text = m.render(&UsageReport::default(), Utc::now());
        assert!(text.contains(r#"model="other",status="200"} 10"#), "{text}");
        let _held = m.enter();
        assert!(m
            .render(&UsageReport::default(), Utc::now())
            .contains("llm_proxy_in_flight_requests 1"));
    }
}
