//! The gateway's counters and histograms, served at `GET /metrics` by `prometheus-client`. Every refusal and
//! every record the broker did not take increments one of them, under a label derived from the enum that
//! names the reason, so the label set is fixed and complete; every refusal reason is exposed from the start,
//! at zero. Topic labels only ever take allowed topic names (others are refused before they are counted),
//! and client labels only configured client names, so no label grows with what clients send.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use strum::IntoEnumIterator;

use crate::refusal::RefusalReason;

/// Why a record the gateway accepted was not written, although the request was answered (the proxy
/// contract reports these as an `error_code` inside an HTTP 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum FailureReason {
    /// The topic is allowed but not on the broker (answered as error code 3).
    UnknownTopic,
    /// The broker or the local producer failed the record.
    Delivery,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicReasonLabels {
    topic: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientStatusLabels {
    client: String,
    status: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to about 33 s, doubling: broker acknowledgements take milliseconds when healthy and up to the
/// produce timeout when not.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    responses: Family<StatusLabel, Counter>,
    request_duration: HistogramFamily<RouteLabel>,
    client_requests: Family<ClientStatusLabels, Counter>,
    refusals: Family<ReasonLabel, Counter>,
    records_produced: Family<TopicLabel, Counter>,
    bytes_produced: Family<TopicLabel, Counter>,
    produce_failures: Family<TopicReasonLabels, Counter>,
    produce_duration: HistogramFamily<TopicLabel>,
    produce_in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            responses: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            client_requests: Family::default(),
            refusals: Family::default(),
            records_produced: Family::default(),
            bytes_produced: Family::default(),
            produce_failures: Family::default(),
            produce_duration: Family::new_with_constructor(latency_histogram),
            produce_in_flight: Gauge::default(),
        };
        for reason in RefusalReason::iter() {
            metrics.refusals.get_or_create_owned(&ReasonLabel { reason: reason.label() });
        }
        metrics.register()
    }
}

impl Metrics {
    fn register(mut self) -> Self {
        // prometheus-client appends `_total` to counter names; histogram names carry their unit.
        let r = &mut self.registry;
        r.register("gateway_http_responses", "HTTP responses by status code", self.responses.clone());
        r.register(
            "gateway_http_request_duration_seconds",
            "Time from request to response, by route",
            self.request_duration.clone(),
        );
        r.register(
            "gateway_client_requests",
            "Produce requests by client (configured name; anonymous without auth; unauthenticated when refused before or at the credential check) and HTTP status",
            self.client_requests.clone(),
        );
        r.register("gateway_refusals", "Requests refused, by reason", self.refusals.clone());
        r.register(
            "gateway_records_produced",
            "Records the broker acknowledged, by topic",
            self.records_produced.clone(),
        );
        r.register(
            "gateway_bytes_produced",
            "Key and value bytes of the records the broker acknowledged, by topic",
            self.bytes_produced.clone(),
        );
        r.register(
            "gateway_produce_failures",
            "Records answered with an error code inside an HTTP 200, by topic and reason",
            self.produce_failures.clone(),
        );
        r.register(
            "gateway_produce_duration_seconds",
            "Time from handing a request's records to the producer until the broker acknowledged (or failed) the last, by topic",
            self.produce_duration.clone(),
        );
        r.register(
            "gateway_produce_requests_in_flight",
            "Produce requests being served now",
            self.produce_in_flight.clone(),
        );
        self
    }

    pub fn count_response(&self, route: &str, status: u16, duration: Duration) {
        self.responses.get_or_create(&StatusLabel { status: status.to_string() }).inc();
        self.request_duration.get_or_create(&RouteLabel { route: route.to_owned() }).observe(duration.as_secs_f64());
    }

    pub fn count_client_request(&self, client: &str, status: u16) {
        let labels = ClientStatusLabels { client: client.to_owned(), status: status.to_string() };
        self.client_requests.get_or_create(&labels).inc();
    }

    pub fn count_refusal(&self, reason: RefusalReason) {
        self.refusals.get_or_create(&ReasonLabel { reason: reason.label() }).inc();
    }

    pub fn count_produced(&self, topic: &str, records: usize, bytes: usize) {
        let label = TopicLabel { topic: topic.to_owned() };
        self.records_produced.get_or_create(&label).inc_by(records as u64);
        self.bytes_produced.get_or_create(&label).inc_by(bytes as u64);
    }

    pub fn count_failures(&self, topic: &str, reason: FailureReason, records: usize) {
        let labels = TopicReasonLabels { topic: topic.to_owned(), reason: reason.into() };
        self.produce_failures.get_or_create(&labels).inc_by(records as u64);
    }

    pub fn observe_produce(&self, topic: &str, duration: Duration) {
        self.produce_duration.get_or_create(&TopicLabel { topic: topic.to_owned() }).observe(duration.as_secs_f64());
    }

    /// Counts a produce request as in flight until the returned guard is dropped, however the request ends.
    pub fn produce_in_flight(&self) -> InFlight {
        self.produce_in_flight.inc();
        InFlight(self.produce_in_flight.clone())
    }

    /// The Prometheus text exposition (OpenMetrics flavour, which Prometheus also reads as `text/plain`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_lines(text: &str, lines: &[&str]) {
        for line in lines {
            assert!(text.lines().any(|l| l == *line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn it_renders_every_counter_with_its_labels() {
        let metrics = Metrics::default();
        metrics.count_response("/topics/{topic}", 200, Duration::from_millis(3));
        metrics.count_response("/topics/{topic}", 200, Duration::from_millis(3));
        metrics.count_response("unmatched", 418, Duration::from_millis(3));
        metrics.count_client_request("edge", 200);
        metrics.count_produced("page_visits", 5, 120);
        metrics.count_failures("page_visits", FailureReason::Delivery, 2);
        metrics.count_refusal(RefusalReason::QueueFull);
        metrics.observe_produce("page_visits", Duration::from_millis(3));
        let text = metrics.render();
        assert_lines(
            &text,
            &[
                "gateway_http_responses_total{status=\"200\"} 2",
                "gateway_http_responses_total{status=\"418\"} 1",
                "gateway_http_request_duration_seconds_count{route=\"/topics/{topic}\"} 2",
                "gateway_client_requests_total{client=\"edge\",status=\"200\"} 1",
                "gateway_records_produced_total{topic=\"page_visits\"} 5",
                "gateway_bytes_produced_total{topic=\"page_visits\"} 120",
                "gateway_produce_failures_total{topic=\"page_visits\",reason=\"delivery\"} 2",
                "gateway_refusals_total{reason=\"queue_full\"} 1",
                "gateway_produce_duration_seconds_bucket{le=\"0.004\",topic=\"page_visits\"} 1",
                "gateway_produce_duration_seconds_bucket{le=\"0.002\",topic=\"page_visits\"} 0",
                "# TYPE gateway_refusals counter",
            ],
        );
    }

    #[test]
    fn every_refusal_reason_is_exposed_from_the_start() {
        let text = Metrics::default().render();
        for reason in RefusalReason::iter() {
            let line = format!("gateway_refusals_total{{reason=\"{}\"}} 0", reason.label());
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn a_request_counts_as_in_flight_until_it_ends() {
        let metrics = Metrics::default();
        let first = metrics.produce_in_flight();
        let second = metrics.produce_in_flight();
        assert_lines(&metrics.render(), &["gateway_produce_requests_in_flight 2"]);
        drop((first, second));
        assert_lines(&metrics.render(), &["gateway_produce_requests_in_flight 0"]);
    }
}
