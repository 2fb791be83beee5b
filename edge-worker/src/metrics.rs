//! Counters of one isolate, served by `GET /health`, and the one-line JSON logs that accompany them.
//!
//! Cloudflare runs many isolates of a Worker and recycles them at will, so these counters are a sample of
//! what one isolate saw since it started, not totals; Workers Logs (the JSON lines) are the complete record.
//! Every rejection, bot drop and forward failure increments exactly one counter here and logs one line.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::{json, Map, Value};

use event_schema::TrackErrorKind;
use strum::{EnumCount, IntoEnumIterator};

use crate::api::{ApiError, ApiErrorKind};
use crate::forward::{FailureReason, ForwardReport};
use crate::handoff::Settle;

/// Slots of the `rejected` counter: one per [`ApiErrorKind`], then one per [`TrackErrorKind`] (the slot of
/// `ApiErrorKind::Invalid` itself stays unused: an invalid body is counted by its own `TrackError` kind).
const REJECT_SLOTS: usize = ApiErrorKind::COUNT + TrackErrorKind::COUNT;

fn reject_slot(error: &ApiError) -> usize {
    match error {
        ApiError::Invalid(invalid) => ApiErrorKind::COUNT + TrackErrorKind::from(invalid) as usize,
        other => ApiErrorKind::from(other) as usize,
    }
}

/// The label set of `rejected`, in slot order: the `error` code of every way a request can be refused,
/// derived from the error enums so a new variant cannot go uncounted.
pub fn reject_reasons() -> impl Iterator<Item = (usize, &'static str)> {
    let api =
        ApiErrorKind::iter().filter(|kind| *kind != ApiErrorKind::Invalid).map(|kind| (kind as usize, kind.into()));
    let invalid = TrackErrorKind::iter().map(|kind| (ApiErrorKind::COUNT + kind as usize, kind.into()));
    api.chain(invalid)
}

#[derive(Debug)]
pub struct Counters {
    requests_accepted: AtomicU64,
    events_accepted: AtomicU64,
    rejected: [AtomicU64; REJECT_SLOTS],
    bot_requests_dropped: AtomicU64,
    bot_events_dropped: AtomicU64,
    events_forwarded: AtomicU64,
    forward_failures: [AtomicU64; FailureReason::COUNT],
    events_lost: AtomicU64,
    queue_messages_retried: AtomicU64,
    events_dead_lettered: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    pub const fn new() -> Self {
        Self {
            requests_accepted: AtomicU64::new(0),
            events_accepted: AtomicU64::new(0),
            rejected: [const { AtomicU64::new(0) }; REJECT_SLOTS],
            bot_requests_dropped: AtomicU64::new(0),
            bot_events_dropped: AtomicU64::new(0),
            events_forwarded: AtomicU64::new(0),
            forward_failures: [const { AtomicU64::new(0) }; FailureReason::COUNT],
            events_lost: AtomicU64::new(0),
            queue_messages_retried: AtomicU64::new(0),
            events_dead_lettered: AtomicU64::new(0),
        }
    }

    pub fn accepted(&self, events: usize) {
        bump(&self.requests_accepted, 1);
        bump(&self.events_accepted, events as u64);
    }

    pub fn rejected(&self, error: &ApiError) {
        bump(&self.rejected[reject_slot(error)], 1);
    }

    pub fn bots_dropped(&self, events: usize) {
        bump(&self.bot_requests_dropped, 1);
        bump(&self.bot_events_dropped, events as u64);
    }

    /// Counts every failed attempt by reason, and the events of a batch that was finally given up.
    pub fn forwarded(&self, report: &ForwardReport, events: usize) {
        for failure in &report.failures {
            bump(&self.forward_failures[failure.reason as usize], 1);
        }
        bump(if report.delivered { &self.events_forwarded } else { &self.events_lost }, events as u64);
    }

    /// Counts one queue message's fate: its events delivered, the message retried, or its events moved to
    /// the dead-letter queue. A failed attempt also counts under its reason.
    pub fn settled(&self, settle: Settle, events: usize, failure: Option<FailureReason>) {
        if let Some(reason) = failure {
            bump(&self.forward_failures[reason as usize], 1);
        }
        match settle {
            Settle::Ack => bump(&self.events_forwarded, events as u64),
            Settle::Retry { .. } => bump(&self.queue_messages_retried, 1),
            Settle::DeadLetter => bump(&self.events_dead_lettered, events as u64),
        }
    }

    pub fn snapshot(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let labelled = |labels: &mut dyn Iterator<Item = &str>, counters: &[AtomicU64]| -> Map<String, Value> {
            labels.zip(counters).map(|(label, c)| (label.to_owned(), get(c).into())).collect()
        };
        json!({
            "requests_accepted": get(&self.requests_accepted),
            "events_accepted": get(&self.events_accepted),
            "requests_rejected_by_reason": reject_reasons()
                .map(|(slot, label)| (label.to_owned(), Value::from(get(&self.rejected[slot]))))
                .collect::<Map<String, Value>>(),
            "bot_requests_dropped": get(&self.bot_requests_dropped),
            "bot_events_dropped": get(&self.bot_events_dropped),
            "events_forwarded": get(&self.events_forwarded),
            "forward_failures_by_reason": labelled(&mut FailureReason::iter().map(FailureReason::as_str), &self.forward_failures),
            "events_lost_after_retries": get(&self.events_lost),
            "queue_messages_retried": get(&self.queue_messages_retried),
            "events_dead_lettered": get(&self.events_dead_lettered),
        })
    }
}

/// A count that must survive isolates: one JSON log line (Workers Logs keep every line of every isolate),
/// also written to Workers Analytics Engine when the `PATHLIGHT_METRICS` dataset is bound. Operators sum
/// `count` by `tally` and `label` (see the README's operations section).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tally {
    /// What was counted: `events_accepted`, `requests_rejected`, `bot_events_dropped`, `events_forwarded`,
    /// `events_lost`, `queue_messages_retried`, `events_dead_lettered`, `queue_messages_replayed`.
    pub tally: &'static str,
    /// The reason, for refusals, drops and failures; empty otherwise.
    pub label: &'static str,
    pub site: String,
    pub count: u64,
}

impl Tally {
    pub fn new(tally: &'static str, label: &'static str, site: &str, count: usize) -> Self {
        Self { tally, label, site: site.to_owned(), count: count as u64 }
    }

    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One log line per failed attempt, with the context needed to find the batch again.
pub fn forward_log_lines(
    report: &ForwardReport,
    site: &str,
    session_id: &str,
    events: usize,
    max_attempts: u32,
) -> Vec<String> {
    report
        .failures
        .iter()
        .map(|failure| {
            let given_up = !report.delivered && failure.attempt == report.attempts;
            json!({
                "msg": if given_up { "forward failed; events lost" } else { "forward attempt failed; retrying" },
                "site": site,
                "session_id": session_id,
                "events": events,
                "attempt": failure.attempt,
                "max_attempts": max_attempts,
                "failure": failure,
            })
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::AttemptFailure;

    fn failure(attempt: u32, reason: FailureReason) -> AttemptFailure {
        AttemptFailure {
            attempt,
            reason,
            status: Some(200),
            error_codes: vec![3],
            detail: "d".to_owned(),
            retryable: true,
        }
    }

    #[test]
    fn every_outcome_lands_in_its_named_counter() {
        let counters = Counters::new();
        counters.accepted(3);
        counters.rejected(&ApiError::PayloadTooLarge { max_body_bytes: 1 });
        counters.rejected(&ApiError::PayloadTooLarge { max_body_bytes: 1 });
        counters.rejected(&ApiError::Internal("boom".to_owned()));
        counters.bots_dropped(2);
        let lost = ForwardReport {
            delivered: false,
            attempts: 2,
            failures: vec![failure(1, FailureReason::PartitionError), failure(2, FailureReason::Network)],
        };
        counters.forwarded(&lost, 3);
        counters.forwarded(&ForwardReport { delivered: true, attempts: 1, failures: vec![] }, 4);

        let snapshot = counters.snapshot();
        assert_eq!((snapshot["requests_accepted"].as_u64(), snapshot["events_accepted"].as_u64()), (Some(1), Some(3)));
        assert_eq!(snapshot["requests_rejected_by_reason"]["payload_too_large"], 2);
        assert_eq!(snapshot["requests_rejected_by_reason"]["internal_error"], 1);
        assert_eq!(snapshot["requests_rejected_by_reason"]["empty_body"], 0);
        assert_eq!(
            (snapshot["bot_requests_dropped"].as_u64(), snapshot["bot_events_dropped"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(snapshot["forward_failures_by_reason"]["partition_error"], 1);
        assert_eq!(snapshot["forward_failures_by_reason"]["network"], 1);
        assert_eq!(snapshot["forward_failures_by_reason"]["http_status"], 0);
        assert_eq!(
            (snapshot["events_forwarded"].as_u64(), snapshot["events_lost_after_retries"].as_u64()),
            (Some(4), Some(3))
        );
    }

    #[test]
    fn a_failed_forward_logs_one_json_line_per_attempt_and_says_when_events_are_lost() {
        let report = ForwardReport {
            delivered: false,
            attempts: 2,
            failures: vec![failure(1, FailureReason::PartitionError), failure(2, FailureReason::PartitionError)],
        };
        let lines = forward_log_lines(&report, "demo", "sid12345", 4, 2);
        assert_eq!(lines.len(), 2);
        let first: Value = serde_json::from_str(&lines[0]).expect("json");
        let last: Value = serde_json::from_str(&lines[1]).expect("json");
        assert_eq!(first["msg"], "forward attempt failed; retrying");
        assert_eq!(last["msg"], "forward failed; events lost");
        assert_eq!(
            (last["site"].as_str(), last["events"].as_u64(), last["attempt"].as_u64()),
            (Some("demo"), Some(4), Some(2))
        );
        assert_eq!(last["failure"]["reason"], "partition_error");
        assert_eq!(last["failure"]["error_codes"], serde_json::json!([3]));
        assert_eq!(last["failure"]["status"], 200);
    }
}
