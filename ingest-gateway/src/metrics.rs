//! The gateway's counters, served at `GET /metrics` by `prometheus-client`. Every refusal and every record
//! the broker did not take increments one of them, under a label derived from the enum that names the
//! reason, so the label set is fixed and complete: each reason is exposed from the start, at zero.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use strum::IntoEnumIterator;

use crate::refusal::RefusalReason;

/// Why a record the gateway accepted was not written, although the request was answered (the proxy
/// contract reports these as an `error_code` inside an HTTP 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum FailureReason {
    /// The topic is not on the broker (answered as error code 3).
    UnknownTopic,
    /// The broker or the local producer failed the record.
    Delivery,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    responses: Family<StatusLabel, Counter>,
    records_produced: Counter,
    produce_failures: Family<ReasonLabel, Counter>,
    refusals: Family<ReasonLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            responses: Family::default(),
            records_produced: Counter::default(),
            produce_failures: Family::default(),
            refusals: Family::default(),
        };
        for reason in FailureReason::iter() {
            metrics.produce_failures.get_or_create_owned(&ReasonLabel { reason: reason.into() });
        }
        for reason in RefusalReason::iter() {
            metrics.refusals.get_or_create_owned(&ReasonLabel { reason: reason.label() });
        }
        metrics.register()
    }
}

impl Metrics {
    fn register(mut self) -> Self {
        // prometheus-client appends `_total` to counter names.
        let registry = &mut self.registry;
        registry.register("gateway_http_responses", "HTTP responses by status code", self.responses.clone());
        registry.register("gateway_records_produced", "Records the broker acknowledged", self.records_produced.clone());
        registry.register(
            "gateway_produce_failures",
            "Records answered with an error code inside an HTTP 200, by reason",
            self.produce_failures.clone(),
        );
        registry.register("gateway_refusals", "Requests refused, by reason", self.refusals.clone());
        self
    }

    pub fn count_response(&self, status: u16) {
        self.responses.get_or_create(&StatusLabel { status: status.to_string() }).inc();
    }

    pub fn count_produced(&self, records: usize) {
        self.records_produced.inc_by(records as u64);
    }

    pub fn count_failures(&self, reason: FailureReason, records: usize) {
        self.produce_failures.get_or_create(&ReasonLabel { reason: reason.into() }).inc_by(records as u64);
    }

    pub fn count_refusal(&self, reason: RefusalReason) {
        self.refusals.get_or_create(&ReasonLabel { reason: reason.label() }).inc();
    }

    /// The Prometheus text exposition (OpenMetrics flavour, which Prometheus also reads as `text/plain`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
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
        metrics.count_refusal(RefusalReason::QueueFull);
        let text = metrics.render();
        for line in [
            "gateway_http_responses_total{status=\"200\"} 2",
            "gateway_http_responses_total{status=\"418\"} 1",
            "gateway_records_produced_total 5",
            "gateway_produce_failures_total{reason=\"delivery\"} 2",
            "gateway_produce_failures_total{reason=\"unknown_topic\"} 0",
            "gateway_refusals_total{reason=\"queue_full\"} 1",
            "# TYPE gateway_refusals counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn every_refusal_reason_is_exposed_from_the_start() {
        let text = Metrics::default().render();
        for reason in RefusalReason::iter() {
            let line = format!("gateway_refusals_total{{reason=\"{}\"}} 0", reason.label());
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
