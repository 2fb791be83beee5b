//! The gateway's one configuration, read once at start from the environment (each field also has a
//! command-line flag that wins over its variable). Anything incomplete or contradictory stops the program
//! before it listens or connects, with a message naming the variable to set. Secret values are [`Secret`]s
//! and hidden from `--help`, so neither `Debug` nor help output shows them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use event_schema::StoredEvent;

use crate::auth::{parse_clients, Auth, Client, Credentials, Secret};
use crate::limits::{Limits, Rate, RateLimits};
use crate::replay::chunk_row::RecordingChunkRow;
use crate::topics::TopicPolicy;

/// The product's second topic's default name: session recordings (`SESSION_RECORDINGS_TOPIC`).
pub const SESSION_RECORDINGS_TOPIC: &str = "session_recordings";

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:18082", global = true)]
    pub listen: SocketAddr,

    /// Kafka bootstrap servers, comma separated (librdkafka `bootstrap.servers`).
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092", global = true)]
    pub kafka_brokers: String,

    /// Topic the edge worker produces page visits to and ClickHouse consumes from. Its records must be
    /// exact stored events (422 with error code 42202 otherwise).
    #[arg(long, env = "PAGE_VISITS_TOPIC", default_value = "page_visits", global = true)]
    pub page_visits_topic: String,

    /// Topic the edge worker produces session-recording chunks to and ClickHouse consumes from. Its records
    /// must be exact recording chunks whose payload is the base64 of `compressed_bytes` bytes (422 with
    /// error code 42202 otherwise).
    #[arg(long, env = "SESSION_RECORDINGS_TOPIC", default_value = SESSION_RECORDINGS_TOPIC, global = true)]
    pub session_recordings_topic: String,

    /// Topics `serve` accepts records for, comma separated; any other topic is refused with 403 (error code
    /// 40301). Default: the product's topics, PAGE_VISITS_TOPIC and SESSION_RECORDINGS_TOPIC.
    #[arg(long, env = "ALLOWED_TOPICS", value_delimiter = ',', global = true)]
    pub allowed_topics: Vec<String>,

    /// Partitions given to topics that `migrate` creates (Kafka CreateTopics `num_partitions`).
    #[arg(long = "partitions", env = "TOPIC_PARTITIONS", default_value_t = 4, global = true)]
    pub topic_partitions: i32,

    /// Largest accepted produce request body, in bytes; larger bodies get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Largest record, key plus value as written, in bytes; a request with a larger one gets 413 and
    /// nothing of it is produced. librdkafka's `message.max.bytes` is set to this plus 1024 bytes of
    /// framing; the broker's own limit (Kafka `max.message.bytes`) must be at least as large.
    #[arg(long, env = "MAX_RECORD_BYTES", default_value_t = 1_000_000, global = true)]
    pub max_record_bytes: usize,

    /// Largest total size of a request's header names and values, in bytes; beyond it, 431.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 16 * 1024, global = true)]
    pub max_header_bytes: usize,

    /// Longest a produce request may take, body upload included, in milliseconds; beyond it, 503 with
    /// Retry-After (error code 50003). Must exceed PRODUCE_TIMEOUT_MS, so that a slow broker ends as a
    /// per-partition error first.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000, global = true)]
    pub request_timeout_ms: u64,

    /// Produce requests served at once; one more gets 503 with Retry-After at once instead of waiting.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 256, global = true)]
    pub max_concurrent_requests: usize,

    /// Requests per second each client may send (per configured client, or shared by everyone when auth is
    /// off); beyond it, 429 with Retry-After. 0 turns rate limiting off. A client's own
    /// `rate_limit_per_second` in GATEWAY_CLIENTS wins.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 0, global = true)]
    pub rate_limit_per_second: u32,

    /// Requests a client may send at once above its rate (the token bucket's size); 0 means equal to the
    /// rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 0, global = true)]
    pub rate_limit_burst: u32,

    /// On SIGTERM or Ctrl-C: how long requests in flight may take to finish after the listener closed, in
    /// milliseconds; then the producer is flushed for at most PRODUCE_TIMEOUT_MS, and the process exits.
    #[arg(long, env = "DRAIN_TIMEOUT_MS", default_value_t = 30_000, global = true)]
    pub drain_timeout_ms: u64,

    /// How long `/readyz` waits for each dependency (broker metadata, ClickHouse `SELECT 1`), in
    /// milliseconds.
    #[arg(long, env = "READY_TIMEOUT_MS", default_value_t = 2_000, global = true)]
    pub ready_timeout_ms: u64,

    /// How long a record may wait for the broker's acknowledgement before it counts as failed, in
    /// milliseconds (librdkafka `message.timeout.ms`). Also bounds the producer flush at shutdown.
    #[arg(long, env = "PRODUCE_TIMEOUT_MS", default_value_t = 10_000, global = true)]
    pub produce_timeout_ms: u64,

    /// Records the local producer queue holds before requests get 503 (librdkafka
    /// `queue.buffering.max.messages`).
    #[arg(long, env = "QUEUE_MAX_MESSAGES", default_value_t = 100_000, global = true)]
    pub queue_max_messages: u32,

    /// Record bytes the local producer queue holds before requests get 503, in KiB (librdkafka
    /// `queue.buffering.max.kbytes`).
    #[arg(long, env = "QUEUE_MAX_KBYTES", default_value_t = 65_536, global = true)]
    pub queue_max_kbytes: u32,

    /// How long the producer waits to fill a batch before sending it, in milliseconds (librdkafka `linger.ms`).
    #[arg(long, env = "LINGER_MS", default_value_t = 5, global = true)]
    pub linger_ms: u64,

    /// The idempotent producer (librdkafka `enable.idempotence`): no duplicate from the producer's own retries.
    /// Keep it on with Redpanda or Kafka. The local stack turns it off because its stand-in broker, tansu
    /// 0.6.0, panics when librdkafka bumps the producer epoch after a broker restart, and then refuses every
    /// produce; without it a retry may write a record twice, which the warehouse deduplicates on its id.
    #[arg(long, env = "KAFKA_ENABLE_IDEMPOTENCE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub kafka_enable_idempotence: bool,

    /// Every this many milliseconds, log what the producer sent to the brokers (produce requests, records,
    /// bytes; librdkafka `statistics.interval.ms`); 0, the default, turns it off.
    #[arg(long, env = "KAFKA_STATISTICS_INTERVAL_MS", default_value_t = 0, global = true)]
    pub kafka_statistics_interval_ms: u64,

    /// Clients allowed to produce, as a JSON array: `[{"name": "edge", "token": "..."},
    /// {"name": "importer", "username": "...", "password": "...", "rate_limit_per_second": 50}]`. Each name
    /// labels the client's metrics and rate limit.
    #[arg(long, env = "GATEWAY_CLIENTS", hide_env_values = true, global = true)]
    pub clients: Option<Secret>,

    /// A file holding the same JSON as GATEWAY_CLIENTS (e.g. a mounted secret); both may be given.
    #[arg(long, env = "GATEWAY_CLIENTS_FILE", global = true)]
    pub clients_file: Option<PathBuf>,

    /// A client named `default` whose requests carry `Authorization: Bearer <token>`.
    #[arg(long, env = "GATEWAY_AUTH_TOKEN", hide_env_values = true, global = true)]
    pub auth_token: Option<Secret>,

    /// With GATEWAY_AUTH_PASSWORD: the client named `default` may use HTTP Basic auth with these credentials.
    #[arg(long, env = "GATEWAY_AUTH_USERNAME", global = true)]
    pub auth_username: Option<String>,

    /// Password for GATEWAY_AUTH_USERNAME.
    #[arg(long, env = "GATEWAY_AUTH_PASSWORD", hide_env_values = true, global = true)]
    pub auth_password: Option<Secret>,

    /// Serve without credentials on an address other than loopback. Without this, `serve` refuses to start
    /// on such an address unless clients are configured.
    #[arg(long, env = "GATEWAY_ALLOW_UNAUTHENTICATED", value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub allow_unauthenticated: bool,

    /// ClickHouse HTTP interface.
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://127.0.0.1:18123", global = true)]
    pub clickhouse_url: String,

    /// Database holding Pathlight's tables; `migrate` creates it.
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = "pathlight", global = true)]
    pub clickhouse_database: String,

    /// ClickHouse user.
    #[arg(long, env = "CLICKHOUSE_USER", default_value = "default", global = true)]
    pub clickhouse_user: String,

    /// Password of CLICKHOUSE_USER; empty for none.
    #[arg(long, env = "CLICKHOUSE_PASSWORD", default_value = "", hide_env_values = true, global = true)]
    pub clickhouse_password: String,

    /// Consumer group of ClickHouse's Kafka engine table (its `kafka_group_name`).
    #[arg(long, env = "CLICKHOUSE_KAFKA_GROUP", default_value = "clickhouse_page_visits", global = true)]
    pub clickhouse_kafka_group: String,

    /// Directory of the versioned ClickHouse migrations, relative to the working directory.
    #[arg(long, env = "SQL_DIR", default_value = "sql", global = true)]
    pub sql_dir: PathBuf,

    /// Page visits are kept this many days, counted from each event's `timestamp` (whole days); 0 keeps them
    /// forever. On modern ClickHouse `migrate` puts it into the raw tables' `TTL timestamp + INTERVAL N DAY`;
    /// on 18.16 (no TTL) `retention` drops the expired monthly partitions instead.
    #[arg(long, env = "EVENTS_RETENTION_DAYS", default_value_t = 0, global = true)]
    pub events_retention_days: u32,
}

/// Why the configuration was refused; the message says what to set.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// The ClickHouse login of the reads that answer report readers (the stats API, and the dashboard through
    /// it): CLICKHOUSE_READONLY_USER when it is configured, so a flaw in a report query can neither write nor
    /// see other databases; otherwise CLICKHOUSE_USER, as before. Writes (the stats rollup, replay's
    /// deletions, retention) always log in as CLICKHOUSE_USER.
    pub fn reader_login<'a>(&'a self, access: &'a crate::warehouse::AccessConfig) -> (&'a str, &'a str) {
        match (&access.clickhouse_readonly_user, &access.clickhouse_readonly_password) {
            (Some(user), Some(password)) => (user, password.expose()),
            _ => (&self.clickhouse_user, &self.clickhouse_password),
        }
    }

    /// Checks what the types alone cannot. Run once at start, before anything connects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let refuse = |message: &str| Err(ConfigError(message.to_owned()));
        if self.kafka_brokers.trim().is_empty() {
            return refuse("KAFKA_BROKERS (--kafka-brokers) is empty; set it to host:port[,host:port...]");
        }
        if self.page_visits_topic.trim().is_empty() {
            return refuse("PAGE_VISITS_TOPIC (--page-visits-topic) is empty; set a topic name");
        }
        if self.session_recordings_topic.trim().is_empty() {
            return refuse("SESSION_RECORDINGS_TOPIC (--session-recordings-topic) is empty; set a topic name");
        }
        if self.topic_partitions < 1 {
            return refuse("TOPIC_PARTITIONS (--partitions) must be at least 1");
        }
        if self.max_body_bytes == 0 {
            return refuse("MAX_BODY_BYTES (--max-body-bytes) must be at least 1");
        }
        if self.queue_max_messages == 0 || self.queue_max_messages > i32::MAX as u32 {
            return refuse("QUEUE_MAX_MESSAGES (--queue-max-messages) must be between 1 and 2147483647");
        }
        // librdkafka's own limits: linger.ms <= 900000, and a record must be allowed to wait longer than
        // the batch it sits in lingers.
        if self.linger_ms > 900_000 {
            return refuse("LINGER_MS (--linger-ms) must be at most 900000");
        }
        if self.produce_timeout_ms <= self.linger_ms || self.produce_timeout_ms > i32::MAX as u64 {
            return refuse(
                "PRODUCE_TIMEOUT_MS (--produce-timeout-ms) must be greater than LINGER_MS and at most 2147483647",
            );
        }
        if self.max_record_bytes == 0 || self.max_record_bytes > 1_000_000_000 - 1024 {
            return refuse("MAX_RECORD_BYTES (--max-record-bytes) must be between 1 and 999998976");
        }
        if self.max_header_bytes == 0 {
            return refuse("MAX_HEADER_BYTES (--max-header-bytes) must be at least 1");
        }
        if self.queue_max_kbytes == 0 || self.queue_max_kbytes > i32::MAX as u32 {
            return refuse("QUEUE_MAX_KBYTES (--queue-max-kbytes) must be between 1 and 2147483647");
        }
        if self.request_timeout_ms <= self.produce_timeout_ms {
            return refuse("REQUEST_TIMEOUT_MS (--request-timeout-ms) must be greater than PRODUCE_TIMEOUT_MS");
        }
        if self.max_concurrent_requests == 0 {
            return refuse("MAX_CONCURRENT_REQUESTS (--max-concurrent-requests) must be at least 1");
        }
        if self.ready_timeout_ms == 0 {
            return refuse("READY_TIMEOUT_MS (--ready-timeout-ms) must be at least 1");
        }
        if self.allowed_topics.iter().any(|topic| topic.trim().is_empty()) {
            return refuse("ALLOWED_TOPICS (--allowed-topics) has an empty name; list topics separated by ','");
        }
        self.default_client().map(drop)
    }

    /// The settings of the client named `default` (GATEWAY_AUTH_TOKEN, GATEWAY_AUTH_USERNAME and
    /// GATEWAY_AUTH_PASSWORD).
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials {
            prefix: "GATEWAY_AUTH",
            token: self.auth_token.as_ref(),
            username: self.auth_username.as_deref(),
            password: self.auth_password.as_ref(),
        }
    }

    fn default_client(&self) -> Result<Option<Client>, ConfigError> {
        self.credentials().client("default").map_err(|error| ConfigError(error.to_string()))
    }

    /// Every configured client: GATEWAY_CLIENTS, GATEWAY_CLIENTS_FILE, and `default` from GATEWAY_AUTH_*.
    /// Reads the clients file; the error names the setting and the rule, never a secret.
    pub fn auth(&self) -> Result<Auth, ConfigError> {
        let mut clients = Vec::new();
        if let Some(json) = &self.clients {
            clients.extend(parse_clients(json.expose()).map_err(|e| ConfigError(format!("GATEWAY_CLIENTS: {e}")))?);
        }
        if let Some(path) = &self.clients_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("GATEWAY_CLIENTS_FILE: cannot read {}: {e}", path.display())))?;
            let from_file = parse_clients(&text)
                .map_err(|e| ConfigError(format!("GATEWAY_CLIENTS_FILE {}: {e}", path.display())))?;
            clients.extend(from_file);
        }
        clients.extend(self.default_client()?);
        Auth::open().with_clients(clients).map_err(|e| ConfigError(format!("gateway clients: {e}")))
    }

    /// The clients `serve` accepts ([`Config::auth`]), refused as [`Config::check_exposure`] refuses them:
    /// what the server and `check-config` both start from.
    pub fn serving_auth(&self) -> Result<Auth, ConfigError> {
        let auth = self.auth()?;
        self.check_exposure(&auth)?;
        Ok(auth)
    }

    /// Refuses to serve without credentials anywhere but on loopback, unless told to.
    pub fn check_exposure(&self, auth: &Auth) -> Result<(), ConfigError> {
        if auth.is_open() && !self.listen.ip().is_loopback() && !self.allow_unauthenticated {
            return Err(ConfigError(format!(
                "GATEWAY_LISTEN is {}, reachable from other machines, but no credentials are configured: set \
                 GATEWAY_CLIENTS (or GATEWAY_CLIENTS_FILE, GATEWAY_AUTH_TOKEN), or listen on 127.0.0.1, or set \
                 GATEWAY_ALLOW_UNAUTHENTICATED=true to serve anyone who can connect",
                self.listen
            )));
        }
        Ok(())
    }

    /// The allowlist and the row type of each product topic that ClickHouse reads.
    pub fn topic_policy(&self) -> TopicPolicy {
        let allowed = if self.allowed_topics.is_empty() {
            vec![self.page_visits_topic.clone(), self.session_recordings_topic.clone()]
        } else {
            self.allowed_topics.iter().map(|topic| topic.trim().to_owned()).collect()
        };
        TopicPolicy::allow_only(allowed)
            .with_row_type::<StoredEvent>(&self.page_visits_topic)
            .with_row_type::<RecordingChunkRow>(&self.session_recordings_topic)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            max_record_bytes: self.max_record_bytes,
            max_header_bytes: self.max_header_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_concurrent_requests: self.max_concurrent_requests,
        }
    }

    pub fn rate_limits(&self, auth: &Auth) -> RateLimits {
        let default = (self.rate_limit_per_second > 0)
            .then_some(Rate { per_second: self.rate_limit_per_second, burst: self.rate_limit_burst });
        RateLimits::for_clients(auth, default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
        #[command(flatten)]
        access: crate::warehouse::AccessConfig,
    }

    fn parse(args: &[&str]) -> Config {
        Cli::try_parse_from(std::iter::once("ingest-gateway").chain(args.iter().copied())).expect("parses").config
    }

    #[test]
    fn the_defaults_are_valid() {
        let config =
            parse(&["--kafka-brokers", "127.0.0.1:19092", "--linger-ms", "5", "--produce-timeout-ms", "10000"]);
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        config.validate().expect("valid");
    }

    #[test]
    fn it_refuses_a_username_without_a_password() {
        let error = parse(&["--auth-username", "worker"]).validate().expect_err("refused");
        assert!(error.to_string().contains("GATEWAY_AUTH_PASSWORD"), "{error}");
    }

    #[test]
    fn it_refuses_an_empty_token() {
        let error = parse(&["--auth-token", ""]).validate().expect_err("refused");
        assert!(error.to_string().contains("GATEWAY_AUTH_TOKEN"), "{error}");
    }

    #[test]
    fn it_refuses_a_produce_timeout_not_above_linger() {
        let error = parse(&["--linger-ms", "100", "--produce-timeout-ms", "100"]).validate().expect_err("refused");
        assert!(error.to_string().contains("PRODUCE_TIMEOUT_MS"), "{error}");
    }

    #[test]
    fn it_refuses_zero_partitions() {
        let error = parse(&["--partitions", "0"]).validate().expect_err("refused");
        assert!(error.to_string().contains("TOPIC_PARTITIONS"), "{error}");
    }

    #[test]
    fn it_refuses_a_request_timeout_not_above_the_produce_timeout() {
        let error = parse(&["--produce-timeout-ms", "10000", "--request-timeout-ms", "10000"]).validate();
        assert!(error.expect_err("refused").to_string().contains("REQUEST_TIMEOUT_MS"));
    }

    #[test]
    fn clients_come_from_the_json_setting_the_file_and_the_single_client_settings_together() {
        let file = std::env::temp_dir().join(format!("gateway-clients-{}.json", std::process::id()));
        std::fs::write(&file, r#"[{"name": "importer", "username": "imp", "password": "pw"}]"#).expect("write");
        let config = parse(&[
            "--clients",
            r#"[{"name": "edge", "token": "t-edge"}]"#,
            "--clients-file",
            file.to_str().expect("utf-8 path"),
            "--auth-token",
            "t-default",
        ]);
        let auth = config.auth().expect("valid clients");
        let _ = std::fs::remove_file(&file);
        let names: Vec<_> = auth.clients().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["edge", "importer", "default"]);
    }

    #[test]
    fn a_clients_error_names_the_setting_but_not_the_secret() {
        let error = parse(&["--clients", r#"[{"name": "edge", "token": 31337}]"#]).auth().expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("GATEWAY_CLIENTS") && !message.contains("31337"), "{message}");
        let missing = parse(&["--clients-file", "/nonexistent/clients.json"]).auth().expect_err("refused");
        assert!(missing.to_string().contains("GATEWAY_CLIENTS_FILE"), "{missing}");
    }

    #[test]
    fn it_refuses_to_serve_anyone_on_a_public_address_without_credentials_unless_told_to() {
        let public = parse(&["--listen", "0.0.0.0:8082"]);
        let error = public.check_exposure(&public.auth().expect("no clients")).expect_err("refused");
        assert!(error.to_string().contains("GATEWAY_ALLOW_UNAUTHENTICATED"), "{error}");

        let allowed = parse(&["--listen", "0.0.0.0:8082", "--allow-unauthenticated"]);
        allowed.check_exposure(&allowed.auth().expect("no clients")).expect("explicitly allowed");
        let with_token = parse(&["--listen", "[::]:8082", "--auth-token", "t"]);
        with_token.check_exposure(&with_token.auth().expect("one client")).expect("credentials configured");
        let loopback = parse(&["--listen", "[::1]:8082"]);
        loopback.check_exposure(&loopback.auth().expect("no clients")).expect("loopback only");
    }

    #[test]
    fn debug_output_hides_every_secret() {
        let config = parse(&["--auth-token", "tok-123", "--auth-username", "u", "--auth-password", "pw-456"]);
        let config = Config { clients: Some(Secret::new(r#"[{"name":"a","token":"tok-789"}]"#)), ..config };
        let printed = format!("{config:?}");
        for secret in ["tok-123", "pw-456", "tok-789"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn by_default_the_product_topics_are_allowed_and_each_must_carry_its_rows() {
        let policy = parse(&["--page-visits-topic", "visits"]).topic_policy();
        assert_eq!(policy.allowed_topics(), Some(vec!["session_recordings", "visits"]));
        let not_an_event = crate::sink::SinkRecord { key: None, value: Some(b"{}".to_vec()), partition: None };
        assert!(policy.check_records("visits", std::slice::from_ref(&not_an_event)).is_err());
        assert!(policy.check_records("session_recordings", &[not_an_event]).is_err(), "not a recording chunk");
        let listed = parse(&["--allowed-topics", "a, b"]).topic_policy();
        assert_eq!(listed.allowed_topics(), Some(vec!["a", "b"]));
    }

    #[test]
    fn it_refuses_a_non_numeric_body_limit_naming_the_flag() {
        let error = Cli::try_parse_from(["ingest-gateway", "--max-body-bytes", "lots"]).err().expect("refused");
        assert!(error.to_string().contains("--max-body-bytes"), "{error}");
    }

    #[test]
    fn reports_read_as_the_readonly_user_when_one_is_configured_and_as_clickhouse_user_otherwise() {
        let parse_both = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(std::iter::once("ingest-gateway").chain(args.iter().copied())).expect("parses");
            (cli.config, cli.access)
        };
        let (config, access) = parse_both(&["--clickhouse-user", "admin", "--clickhouse-password", "a"]);
        assert_eq!(config.reader_login(&access), ("admin", "a"));
        let (config, access) = parse_both(&[
            "--clickhouse-user",
            "admin",
            "--clickhouse-readonly-user",
            "reader",
            "--clickhouse-readonly-password",
            "r",
            "--clickhouse-writer-user",
            "writer",
            "--clickhouse-writer-password",
            "w",
        ]);
        assert_eq!(config.reader_login(&access), ("reader", "r"));
        assert_eq!((config.clickhouse_user.as_str(), config.clickhouse_password.as_str()), ("admin", ""));
    }
}
