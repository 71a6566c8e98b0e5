//! The routing series of `/metrics`: fallovers between a route's targets
//! and sticky-session pins kept or moved. Labels come from the
//! configuration (route and target names), never from clients, so they
//! stay few.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{escape, header};

#[derive(Debug, Default)]
pub struct RoutingMetrics {
    /// (route, from, to) → moves from one target to the next.
    fallbacks: Mutex<BTreeMap<(String, String, String), u64>>,
    sticky_hits: AtomicU64,
    sticky_moves: AtomicU64,
}

// === impl RoutingMetrics ===

impl RoutingMetrics {
    /// A request of `route` left target `from` for target `to`.
    pub fn fallback(&self, route: &str, from: &str, to: &str) {
        if let Ok(mut fallbacks) = self.fallbacks.lock() {
            *fallbacks
                .entry((route.to_string(), from.to_string(), to.to_string()))
                .or_default() += 1;
        }
    }

    /// A conversation's pinned key answered.
    pub fn sticky_hit(&self) {
        self.sticky_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A conversation's pinned key could not serve, and its pin moved to
    /// the key that answered.
    pub fn sticky_move(&self) {
        self.sticky_moves.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, out: &mut String) {
        header(
            out,
            "llm_proxy_fallbacks_total",
            "counter",
            "Requests of a route that moved from one target to the next.",
        );
        if let Ok(fallbacks) = self.fallbacks.lock() {
            for ((route, from, to), n) in fallbacks.iter() {
                let _ = writeln!(
                    out,
                    "llm_proxy_fallbacks_total{{route=\"{}\",from=\"{}\",to=\"{}\"}} {n}",
                    escape(route),
                    escape(from),
                    escape(to)
                );
            }
        }
        for (name, help, value) in [
            (
                "llm_proxy_sticky_hits_total",
                "Requests of a conversation answered by the key it is pinned to.",
                &self.sticky_hits,
            ),
            (
                "llm_proxy_sticky_moves_total",
                "Conversations whose pinned key could not serve and that moved to another key.",
                &self.sticky_moves,
            ),
        ] {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
    }
}
