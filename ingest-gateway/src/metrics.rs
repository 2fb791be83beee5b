//! The gateway's counters, served at `GET /metrics` in the Prometheus text format. Every rejection, loss
//! and refusal of the produce path increments one of these, with a fixed set of label values so the
//! exposition stays small and stable.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Statuses the gateway answers with; anything else is counted as `other`.
const STATUSES: [u16; 11] = [200, 400, 401, 404, 405, 406, 413, 415, 422, 500, 503];

#[derive(Debug, Clone, Copy)]
pub enum FailureReason {
    /// The topic is not on the broker (answered as error code 3 inside a 200).
    UnknownTopic,
    /// The broker or the local producer failed a record.
    Delivery,
    /// The broker could not be reached at all.
    BrokerUnavailable,
}

impl FailureReason {
    const ALL: [FailureReason; 3] =
        [FailureReason::UnknownTopic, FailureReason::Delivery, FailureReason::BrokerUnavailable];

    fn label(self) -> &'static str {
        match self {
            FailureReason::UnknownTopic => "unknown_topic",
            FailureReason::Delivery => "delivery",
            FailureReason::BrokerUnavailable => "broker_unavailable",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    responses: [AtomicU64; STATUSES.len() + 1],
    records_produced: AtomicU64,
    produce_failures: [AtomicU64; FailureReason::ALL.len()],
    queue_full_rejections: AtomicU64,
    auth_failures: AtomicU64,
}

impl Metrics {
    pub fn count_response(&self, status: u16) {
        let slot = STATUSES.iter().position(|&s| s == status).unwrap_or(STATUSES.len());
        self.responses[slot].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_produced(&self, records: usize) {
        self.records_produced.fetch_add(records as u64, Ordering::Relaxed);
    }

    pub fn count_failures(&self, reason: FailureReason, records: usize) {
        self.produce_failures[reason as usize].fetch_add(records as u64, Ordering::Relaxed);
    }

    pub fn count_queue_full(&self) {
        self.queue_full_rejections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);

        header(&mut out, "gateway_http_responses_total", "HTTP responses by status code.");
        for (status, counter) in STATUSES.iter().map(u16::to_string).chain(["other".to_owned()]).zip(&self.responses) {
            let _ = writeln!(out, "gateway_http_responses_total{{status=\"{status}\"}} {}", get(counter));
        }
        header(&mut out, "gateway_records_produced_total", "Records the broker acknowledged.");
        let _ = writeln!(out, "gateway_records_produced_total {}", get(&self.records_produced));
        header(&mut out, "gateway_produce_failures_total", "Records not written, by reason.");
        for (reason, counter) in FailureReason::ALL.iter().zip(&self.produce_failures) {
            let _ = writeln!(out, "gateway_produce_failures_total{{reason=\"{}\"}} {}", reason.label(), get(counter));
        }
        header(
            &mut out,
            "gateway_queue_full_rejections_total",
            "Produce requests refused with 503 because the local queue was full.",
        );
        let _ = writeln!(out, "gateway_queue_full_rejections_total {}", get(&self.queue_full_rejections));
        header(
            &mut out,
            "gateway_auth_failures_total",
            "Produce requests refused for missing, wrong or malformed credentials.",
        );
        let _ = writeln!(out, "gateway_auth_failures_total {}", get(&self.auth_failures));
        out
    }
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_renders_every_counter_with_its_labels() {
        let metrics = Metrics::default();
        metrics.count_response(200);
        metrics.count_response(200);
        metrics.count_response(418);
        metrics.count_produced(5);
        metrics.count_failures(FailureReason::Delivery, 2);
        metrics.count_queue_full();
        metrics.count_auth_failure();
        let text = metrics.render();
        for line in [
            "gateway_http_responses_total{status=\"200\"} 2",
            "gateway_http_responses_total{status=\"other\"} 1",
            "gateway_http_responses_total{status=\"503\"} 0",
            "gateway_records_produced_total 5",
            "gateway_produce_failures_total{reason=\"delivery\"} 2",
            "gateway_produce_failures_total{reason=\"unknown_topic\"} 0",
            "gateway_queue_full_rejections_total 1",
            "gateway_auth_failures_total 1",
            "# TYPE gateway_auth_failures_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
