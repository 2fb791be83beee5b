//! The worker's one typed configuration, parsed from its environment bindings (wrangler `[vars]` and secrets).
//!
//! Parsing is pure (it takes a lookup function), so every rule is unit-tested natively; the shell calls it
//! per request because a Worker has no start-up hook, and it is cheap. An invalid configuration never
//! half-works: every request answers 503 with a message naming the variable to set.

use std::fmt;

use url::Url;

use crate::handoff::RetryPolicy;
use crate::sites::SiteAllowlist;

/// Upper bound of one produce attempt. With the attempt and backoff limits below, the worst case of a
/// forward stays inside [`FORWARD_BUDGET_MS`].
pub const FORWARD_ATTEMPT_TIMEOUT_MS: u64 = 5_000;
/// Cloudflare cancels `waitUntil` work 30 s after the response; stay well clear of that.
pub const FORWARD_BUDGET_MS: u64 = 25_000;
/// Upper bound of one queue retry delay: Cloudflare Queues accepts at most 12 hours; an hour keeps an
/// outage's tail short.
pub const QUEUE_MAX_DELAY_S: u32 = 3_600;
/// Far above what the snippet sends (25 events), far below what an isolate's memory tolerates.
const MAX_BODY_BYTES_CEILING: u64 = 1_048_576;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `PROXY_URL` (required): base URL of the Redpanda HTTP Proxy or `ingest-gateway`, e.g. `https://proxy.example.com`.
    pub proxy_url: Url,
    /// `TOPIC` (default `page_visits`): topic produced to, i.e. `POST {PROXY_URL}/topics/{TOPIC}`.
    pub topic: String,
    /// `RECORDINGS_TOPIC` (default `session_recordings`): topic of session-recording chunks.
    pub recordings_topic: String,
    /// `SITES` (required): JSON object of site id to allowed page hostnames.
    pub sites: SiteAllowlist,
    /// `IP_MODE` (default `truncate`): what is stored of the client IP.
    pub ip_mode: IpMode,
    /// `VISITOR_SALT_SECRET` (required secret, >= 16 chars): key of the daily visitor-id salt.
    pub visitor_salt_secret: Secret,
    /// `PROXY_TOKEN` (Bearer) or `PROXY_USERNAME` + `PROXY_PASSWORD` (Basic); neither means no auth.
    pub proxy_auth: ProxyAuth,
    /// `MAX_BODY_BYTES` (default 65536): largest accepted `/track` body.
    pub max_body_bytes: u64,
    /// `FORWARD_MAX_ATTEMPTS` (default 3): produce attempts per batch, the first included.
    pub forward_max_attempts: u32,
    /// `FORWARD_BACKOFF_MS` (default 200): wait before the first retry; doubles for each further one.
    pub forward_backoff_ms: u64,
    /// `DROP_BOTS` (default true): drop events from crawlers, headless browsers and empty user agents.
    pub drop_bots: bool,
    /// `FORWARD_MODE` (default `queue`): how accepted events reach the proxy.
    pub forward_mode: ForwardMode,
    /// `TOPIC_PARTITIONS` (default 4): partitions of the topics, for the queue consumer's explicit
    /// partitions. Must not exceed the topics' real partition count (records for a missing partition fail
    /// with `error_code` 3, are retried and end in the dead-letter queue, logged).
    pub topic_partitions: u32,
    /// `QUEUE_RETRY_BASE_S` (default 2) and `QUEUE_MAX_AGE_S` (default 86400): the queue consumer's first
    /// retry delay, and the age after which a message that still fails goes to the dead-letter queue.
    pub retry_policy: RetryPolicy,
    /// `DEAD_LETTER_QUEUE` (default `pathlight-events-dlq`): the queue whose batches are replayed onto the
    /// events queue instead of produced.
    pub dead_letter_queue: String,
}

/// How accepted events travel from the worker to the produce proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMode {
    /// Through the `EVENTS_QUEUE` Cloudflare Queue: the visitor's 202 means the queue holds the events;
    /// the queue consumer produces them, retries for as long as `QUEUE_MAX_AGE_S`, then dead-letters.
    Queue,
    /// Produced in `waitUntil` after the 202, with `FORWARD_MAX_ATTEMPTS` attempts: best effort; what is
    /// still undelivered after the last attempt is lost, counted and logged.
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpMode {
    /// IPv4 /24 and IPv6 /48: enough for network-level questions, not enough to single out a household.
    Truncate,
    Full,
    Drop,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProxyAuth {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

/// A secret value that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set; {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl ConfigError {
    /// The variable an operator has to fix.
    pub fn variable(&self) -> &'static str {
        match self {
            ConfigError::Missing { var, .. } | ConfigError::Invalid { var, .. } => var,
        }
    }
}

impl Config {
    /// Reads every variable through `lookup`; an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let invalid = |var: &'static str, reason: String| ConfigError::Invalid { var, reason };

        let proxy_url = get("PROXY_URL").ok_or(ConfigError::Missing {
            var: "PROXY_URL",
            hint: "set it to the produce proxy's base URL, e.g. https://proxy.example.com",
        })?;
        let proxy_url = Url::parse(proxy_url.trim()).map_err(|e| invalid("PROXY_URL", format!("not a URL ({e})")))?;
        if !matches!(proxy_url.scheme(), "http" | "https") || proxy_url.host_str().is_none() {
            return Err(invalid("PROXY_URL", "must be an http(s) URL with a host".to_owned()));
        }
        if proxy_url.query().is_some() || proxy_url.fragment().is_some() {
            return Err(invalid("PROXY_URL", "must not carry a query or fragment".to_owned()));
        }

        let topic_named = |var: &'static str, default: &str| {
            let topic = get(var).unwrap_or_else(|| default.to_owned());
            if topic.len() > 249 || !topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
                return Err(invalid(var, "must be 1 to 249 characters from [A-Za-z0-9._-]".to_owned()));
            }
            Ok(topic)
        };
        let topic = topic_named("TOPIC", "page_visits")?;
        let recordings_topic = topic_named("RECORDINGS_TOPIC", "session_recordings")?;

        let sites = get("SITES").ok_or(ConfigError::Missing {
            var: "SITES",
            hint: r#"set it to a JSON object of site id to hostnames, e.g. {"example.com":["example.com","www.example.com"]}"#,
        })?;
        let sites = SiteAllowlist::parse(&sites)?;

        let ip_mode = match get("IP_MODE").as_deref().map(str::trim) {
            None | Some("truncate") => IpMode::Truncate,
            Some("full") => IpMode::Full,
            Some("drop") => IpMode::Drop,
            Some(other) => return Err(invalid("IP_MODE", format!("{other:?} is not one of truncate, full, drop"))),
        };

        let visitor_salt_secret = get("VISITOR_SALT_SECRET").ok_or(ConfigError::Missing {
            var: "VISITOR_SALT_SECRET",
            hint: "set it as a secret (`wrangler secret put VISITOR_SALT_SECRET`) to a random string of at least 16 characters",
        })?;
        if visitor_salt_secret.chars().count() < 16 {
            return Err(invalid("VISITOR_SALT_SECRET", "must be at least 16 characters".to_owned()));
        }

        let proxy_auth = match (get("PROXY_TOKEN"), get("PROXY_USERNAME"), get("PROXY_PASSWORD")) {
            (None, None, None) => ProxyAuth::None,
            (Some(token), None, None) => ProxyAuth::Bearer(Secret(token)),
            (None, Some(username), Some(password)) => ProxyAuth::Basic { username, password: Secret(password) },
            (Some(_), _, _) => {
                return Err(invalid(
                    "PROXY_TOKEN",
                    "set either PROXY_TOKEN or PROXY_USERNAME + PROXY_PASSWORD, not both".to_owned(),
                ))
            }
            (None, Some(_), None) => {
                return Err(invalid("PROXY_PASSWORD", "is required with PROXY_USERNAME".to_owned()))
            }
            (None, None, Some(_)) => {
                return Err(invalid("PROXY_USERNAME", "is required with PROXY_PASSWORD".to_owned()))
            }
        };

        let max_body_bytes = number(&get, "MAX_BODY_BYTES", 65_536, 1, MAX_BODY_BYTES_CEILING)?;
        let forward_max_attempts = number(&get, "FORWARD_MAX_ATTEMPTS", 3, 1, 10)?;
        let forward_backoff_ms = number(&get, "FORWARD_BACKOFF_MS", 200, 0, 10_000)?;
        let worst_case_ms = worst_case_forward_ms(forward_max_attempts, forward_backoff_ms);
        if worst_case_ms > FORWARD_BUDGET_MS {
            return Err(invalid(
                "FORWARD_MAX_ATTEMPTS",
                format!(
                    "with FORWARD_BACKOFF_MS={forward_backoff_ms} a forward could take {worst_case_ms} ms \
                     ({FORWARD_ATTEMPT_TIMEOUT_MS} ms per attempt plus backoff), over the {FORWARD_BUDGET_MS} ms waitUntil budget; lower either"
                ),
            ));
        }

        let drop_bots = match get("DROP_BOTS").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => return Err(invalid("DROP_BOTS", format!("{other:?} is not true or false"))),
        };

        let forward_mode = match get("FORWARD_MODE").as_deref().map(str::trim) {
            None | Some("queue") => ForwardMode::Queue,
            Some("direct") => ForwardMode::Direct,
            Some(other) => return Err(invalid("FORWARD_MODE", format!("{other:?} is not one of queue, direct"))),
        };
        let topic_partitions = number(&get, "TOPIC_PARTITIONS", 4, 1, 10_000)?;
        let retry_policy = RetryPolicy {
            base_delay_s: u32::try_from(number(&get, "QUEUE_RETRY_BASE_S", 2, 1, u64::from(QUEUE_MAX_DELAY_S))?)
                .unwrap_or(QUEUE_MAX_DELAY_S),
            max_delay_s: QUEUE_MAX_DELAY_S,
            // Cloudflare keeps a queue's messages at most 14 days.
            max_age_s: number(&get, "QUEUE_MAX_AGE_S", 86_400, 1, 14 * 86_400)?,
        };

        let dead_letter_queue = get("DEAD_LETTER_QUEUE").unwrap_or_else(|| "pathlight-events-dlq".to_owned());

        Ok(Config {
            proxy_url,
            topic,
            recordings_topic,
            sites,
            ip_mode,
            visitor_salt_secret: Secret(visitor_salt_secret),
            proxy_auth,
            max_body_bytes,
            forward_max_attempts: u32::try_from(forward_max_attempts).unwrap_or(u32::MAX),
            forward_backoff_ms,
            drop_bots,
            forward_mode,
            topic_partitions: u32::try_from(topic_partitions).unwrap_or(u32::MAX),
            retry_policy,
            dead_letter_queue: dead_letter_queue.trim().to_owned(),
        })
    }

    /// `{PROXY_URL}/topics/{topic}`; a path prefix on `PROXY_URL` (a proxy behind a sub-path) is kept.
    pub fn produce_url(&self, topic: &str) -> String {
        format!("{}/topics/{topic}", self.proxy_url.as_str().trim_end_matches('/'))
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = get(var) else { return Ok(default) };
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid { var, reason: format!("{text:?} is not a whole number from {min} to {max}") }),
    }
}

/// Every attempt timing out, plus the doubling waits between them.
fn worst_case_forward_ms(attempts: u64, backoff_ms: u64) -> u64 {
    let waits: u64 = (0..attempts.saturating_sub(1)).map(|retry| backoff_ms.saturating_mul(1 << retry)).sum();
    attempts * FORWARD_ATTEMPT_TIMEOUT_MS + waits
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    pub(crate) fn vars() -> HashMap<&'static str, String> {
        HashMap::from([
            ("PROXY_URL", "http://127.0.0.1:18082".to_owned()),
            (
                "SITES",
                r#"{"example.com":["example.com","www.example.com"],"demo":["localhost","127.0.0.1"]}"#.to_owned(),
            ),
            ("VISITOR_SALT_SECRET", "0123456789abcdef-test".to_owned()),
        ])
    }

    pub(crate) fn parse(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn error_with(var: &'static str, value: &str) -> ConfigError {
        let mut vars = vars();
        vars.insert(var, value.to_owned());
        parse(&vars).expect_err(&format!("{var}={value} should be refused"))
    }

    #[test]
    fn defaults_fill_everything_but_the_required_values() {
        let config = parse(&vars()).expect("valid");
        assert_eq!(config.topic, "page_visits");
        assert_eq!(config.ip_mode, IpMode::Truncate);
        assert_eq!(config.proxy_auth, ProxyAuth::None);
        assert_eq!((config.max_body_bytes, config.forward_max_attempts, config.forward_backoff_ms), (65_536, 3, 200));
        assert!(config.drop_bots);
        assert_eq!((config.forward_mode, config.topic_partitions), (ForwardMode::Queue, 4));
        assert_eq!(
            config.retry_policy,
            RetryPolicy { base_delay_s: 2, max_delay_s: QUEUE_MAX_DELAY_S, max_age_s: 86_400 }
        );
        assert_eq!(config.produce_url(&config.topic), "http://127.0.0.1:18082/topics/page_visits");
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        for var in ["PROXY_URL", "SITES", "VISITOR_SALT_SECRET"] {
            let mut vars = vars();
            vars.remove(var);
            let error = parse(&vars).expect_err(var);
            assert_eq!(error.variable(), var);
            assert!(error.to_string().starts_with(&format!("{var} is not set")), "{error}");
            vars.insert(var, "   ".to_owned());
            assert_eq!(parse(&vars).expect_err(var).variable(), var, "blank counts as unset");
        }
    }

    #[test]
    fn invalid_values_are_refused_naming_the_variable() {
        for (var, value) in [
            ("PROXY_URL", "not a url"),
            ("PROXY_URL", "ftp://proxy"),
            ("PROXY_URL", "https://proxy/?x=1"),
            ("TOPIC", "page visits"),
            ("RECORDINGS_TOPIC", "rec/ordings"),
            ("SITES", "{}"),
            ("IP_MODE", "hash"),
            ("VISITOR_SALT_SECRET", "short"),
            ("MAX_BODY_BYTES", "0"),
            ("MAX_BODY_BYTES", "64k"),
            ("MAX_BODY_BYTES", "104857600"),
            ("FORWARD_MAX_ATTEMPTS", "0"),
            ("FORWARD_BACKOFF_MS", "-1"),
            ("DROP_BOTS", "maybe"),
            ("FORWARD_MODE", "later"),
            ("TOPIC_PARTITIONS", "0"),
            ("QUEUE_RETRY_BASE_S", "0"),
            ("QUEUE_MAX_AGE_S", "99999999"),
        ] {
            assert_eq!(error_with(var, value).variable(), var, "{var}={value}");
        }
    }

    #[test]
    fn retries_that_could_outlive_the_wait_until_budget_are_refused() {
        let mut vars = vars();
        vars.insert("FORWARD_MAX_ATTEMPTS", "4".to_owned());
        assert!(parse(&vars).is_ok(), "4 attempts at 200 ms backoff fit");
        vars.insert("FORWARD_MAX_ATTEMPTS", "5".to_owned());
        let error = parse(&vars).expect_err("5 attempts do not fit");
        assert_eq!(error.variable(), "FORWARD_MAX_ATTEMPTS");
        assert!(error.to_string().contains("waitUntil"), "{error}");
    }

    #[test]
    fn proxy_auth_is_bearer_or_basic_never_both() {
        let mut vars = vars();
        vars.insert("PROXY_TOKEN", "tok".to_owned());
        assert_eq!(parse(&vars).expect("bearer").proxy_auth, ProxyAuth::Bearer(Secret("tok".to_owned())));
        vars.insert("PROXY_USERNAME", "u".to_owned());
        assert_eq!(parse(&vars).expect_err("both").variable(), "PROXY_TOKEN");
        vars.remove("PROXY_TOKEN");
        assert_eq!(parse(&vars).expect_err("user without password").variable(), "PROXY_PASSWORD");
        vars.insert("PROXY_PASSWORD", "p".to_owned());
        assert_eq!(
            parse(&vars).expect("basic").proxy_auth,
            ProxyAuth::Basic { username: "u".to_owned(), password: Secret("p".to_owned()) }
        );
        vars.remove("PROXY_USERNAME");
        assert_eq!(parse(&vars).expect_err("password without user").variable(), "PROXY_USERNAME");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let mut vars = vars();
        vars.insert("PROXY_TOKEN", "very-secret-token".to_owned());
        let debug = format!("{:?}", parse(&vars).expect("valid"));
        assert!(!debug.contains("very-secret-token") && !debug.contains("0123456789abcdef"), "{debug}");
    }

    #[test]
    fn a_proxy_path_prefix_and_custom_topic_shape_the_produce_url() {
        let mut vars = vars();
        vars.insert("PROXY_URL", "https://proxy.example.com/kafka/".to_owned());
        vars.insert("TOPIC", "visits.v1".to_owned());
        let config = parse(&vars).expect("valid");
        assert_eq!(config.produce_url(&config.topic), "https://proxy.example.com/kafka/topics/visits.v1");
    }
}
