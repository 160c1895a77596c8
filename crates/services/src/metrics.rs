//! What the operator's Prometheus scrapes from `[listen] metrics`: counters the pipeline
//! moves as it works, plus gauges the caller reads at scrape time (queue, connections) and
//! hands to [`Metrics::render`]. One handle per process, passed in the [`Provider`]; no
//! global registry.
//!
//! [`Provider`]: crate::provider::Provider

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// What happened to a message at one of our points (RFC 6109 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Taken: accettazione at the access point, presa in carico or a receipt at the incoming
    /// point.
    Accepted,
    /// Not taken: non-accettazione, ordinary mail refused, anomalies.
    Refused,
    /// In the recipient's mailbox (consegna).
    Delivered,
    /// Given up: mancata consegna.
    Failed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Refused => "refused",
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
        }
    }
}

/// How one relay attempt to one next hop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RelayOutcome {
    /// The peer answered the whole transaction (some recipients may have been refused).
    Delivered,
    /// A permanent refusal (5xx).
    Refused,
    /// Down, busy, 4xx: tried again later.
    Temporary,
    /// The peer broke the protocol or stalled.
    Misbehaving,
}

impl RelayOutcome {
    fn label(self) -> &'static str {
        match self {
            RelayOutcome::Delivered => "delivered",
            RelayOutcome::Refused => "refused",
            RelayOutcome::Temporary => "temporary",
            RelayOutcome::Misbehaving => "misbehaving",
        }
    }
}

/// Upper bounds (seconds) of the store write latency histogram's buckets.
const WRITE_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    /// Per bucket of [`WRITE_BUCKETS`], not cumulative; the +Inf bucket is `count`.
    buckets: [AtomicU64; WRITE_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The counters of one `certa serve`.
#[derive(Default)]
pub struct Metrics {
    messages: Mutex<BTreeMap<(Outcome, String), u64>>,
    relay_attempts: Mutex<BTreeMap<RelayOutcome, u64>>,
    logins: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// SMS attempts by result (`sent`, `retry`, `failed`).
    sms: Mutex<BTreeMap<&'static str, u64>>,
    store_writes: Histogram,
}

/// Values read when scraped, not counted as events.
pub struct Gauges {
    /// Open connections per listener name.
    pub connections: Vec<(&'static str, usize)>,
    /// Items in the delivery queue, parked ones included.
    pub queue_depth: usize,
    /// Age in seconds of the oldest item (0 when empty).
    pub queue_oldest_secs: i64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default() += 1;
}

impl Metrics {
    /// A message of `kind` (a PEC kind code, or `posta-ordinaria`) had `outcome`.
    pub fn message(&self, outcome: Outcome, kind: &str) {
        bump(&self.messages, (outcome, kind.to_string()));
    }

    pub fn relay_attempt(&self, outcome: RelayOutcome) {
        bump(&self.relay_attempts, outcome);
    }

    /// A login by `protocol` ended with `result` (`ok`, `invalid`, `throttled`, …).
    pub fn login(&self, protocol: &'static str, result: &'static str) {
        bump(&self.logins, (protocol, result));
    }

    /// An attempt to send an SMS ended with `result` (`sent`, `retry`, `failed`).
    pub fn sms(&self, result: &'static str) {
        bump(&self.sms, result);
    }

    /// One write transaction of the store took `took`, commit included.
    pub fn store_write(&self, took: Duration) {
        let h = &self.store_writes;
        let secs = took.as_secs_f64();
        if let Some(i) = WRITE_BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        h.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format 0.0.4.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        out.push_str("# HELP certa_messages_total PEC messages by outcome and kind.\n");
        out.push_str("# TYPE certa_messages_total counter\n");
        for ((outcome, kind), n) in self
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "certa_messages_total{{outcome=\"{}\",kind=\"{}\"}} {n}",
                outcome.label(),
                escape(kind)
            );
        }
        out.push_str(
            "# HELP certa_relay_attempts_total Relay attempts to a next hop by outcome.\n",
        );
        out.push_str("# TYPE certa_relay_attempts_total counter\n");
        for (outcome, n) in self
            .relay_attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "certa_relay_attempts_total{{outcome=\"{}\"}} {n}",
                outcome.label()
            );
        }
        out.push_str("# HELP certa_logins_total Logins by protocol and result.\n");
        out.push_str("# TYPE certa_logins_total counter\n");
        for ((protocol, result), n) in self
            .logins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "certa_logins_total{{protocol=\"{protocol}\",result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP certa_sms_total SMS attempts by result (sent, retry, failed).\n");
        out.push_str("# TYPE certa_sms_total counter\n");
        for (result, n) in self
            .sms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "certa_sms_total{{result=\"{result}\"}} {n}");
        }
        out.push_str("# HELP certa_open_connections Connections open now per listener.\n");
        out.push_str("# TYPE certa_open_connections gauge\n");
        for (listener, n) in &g.connections {
            let _ = writeln!(out, "certa_open_connections{{listener=\"{listener}\"}} {n}");
        }
        out.push_str("# HELP certa_queue_depth Items in the delivery queue.\n");
        out.push_str("# TYPE certa_queue_depth gauge\n");
        let _ = writeln!(out, "certa_queue_depth {}", g.queue_depth);
        out.push_str("# HELP certa_queue_oldest_age_seconds Age of the oldest queue item.\n");
        out.push_str("# TYPE certa_queue_oldest_age_seconds gauge\n");
        let _ = writeln!(
            out,
            "certa_queue_oldest_age_seconds {}",
            g.queue_oldest_secs
        );
        let h = &self.store_writes;
        out.push_str(
            "# HELP certa_store_write_seconds Store write transactions, commit included.\n",
        );
        out.push_str("# TYPE certa_store_write_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, n) in WRITE_BUCKETS.iter().zip(&h.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "certa_store_write_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "certa_store_write_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "certa_store_write_seconds_sum {sum}");
        let _ = writeln!(out, "certa_store_write_seconds_count {count}");
        out
    }
}

/// A label value as the exposition format quotes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histogram_render_in_the_text_format() {
        let m = Metrics::default();
        let g = Gauges {
            connections: vec![("smtp", 2)],
            queue_depth: 3,
            queue_oldest_secs: 40,
        };
        assert!(!m.render(&g).contains("certa_messages_total{"));
        m.message(Outcome::Accepted, "posta-certificata");
        m.message(Outcome::Accepted, "posta-certificata");
        m.message(Outcome::Refused, "a\"b");
        m.relay_attempt(RelayOutcome::Temporary);
        m.login("imap", "invalid");
        m.store_write(Duration::from_millis(3));
        m.store_write(Duration::from_secs(9));
        let text = m.render(&g);
        for line in [
            "certa_messages_total{outcome=\"accepted\",kind=\"posta-certificata\"} 2",
            "certa_messages_total{outcome=\"refused\",kind=\"a\\\"b\"} 1",
            "certa_relay_attempts_total{outcome=\"temporary\"} 1",
            "certa_logins_total{protocol=\"imap\",result=\"invalid\"} 1",
            "certa_open_connections{listener=\"smtp\"} 2",
            "certa_queue_depth 3",
            "certa_queue_oldest_age_seconds 40",
            "certa_store_write_seconds_bucket{le=\"0.0025\"} 0",
            "certa_store_write_seconds_bucket{le=\"0.005\"} 1",
            "certa_store_write_seconds_bucket{le=\"5\"} 1",
            "certa_store_write_seconds_bucket{le=\"+Inf\"} 2",
            "certa_store_write_seconds_count 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
