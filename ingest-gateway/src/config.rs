//! The gateway's one configuration, read once at start from the environment (each field also has a
//! command-line flag that wins over its variable). Anything incomplete or contradictory stops the program
//! before it listens or connects, with a message naming the variable to set.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:18082", global = true)]
    pub listen: SocketAddr,

    /// Kafka bootstrap servers, comma separated (librdkafka `bootstrap.servers`).
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092", global = true)]
    pub kafka_brokers: String,

    /// Topic the edge worker produces page visits to and ClickHouse consumes from.
    #[arg(long, env = "PAGE_VISITS_TOPIC", default_value = "page_visits", global = true)]
    pub page_visits_topic: String,

    /// Partitions given to topics that `migrate` creates (Kafka CreateTopics `num_partitions`).
    #[arg(long = "partitions", env = "TOPIC_PARTITIONS", default_value_t = 4, global = true)]
    pub topic_partitions: i32,

    /// Largest accepted produce request body, in bytes; larger bodies get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// How long a record may wait for the broker's acknowledgement before it counts as failed, in
    /// milliseconds (librdkafka `message.timeout.ms`). Also bounds the producer flush at shutdown.
    #[arg(long, env = "PRODUCE_TIMEOUT_MS", default_value_t = 10_000, global = true)]
    pub produce_timeout_ms: u64,

    /// Records the local producer queue holds before requests get 503 (librdkafka
    /// `queue.buffering.max.messages`).
    #[arg(long, env = "QUEUE_MAX_MESSAGES", default_value_t = 100_000, global = true)]
    pub queue_max_messages: u32,

    /// How long the producer waits to fill a batch before sending it, in milliseconds (librdkafka `linger.ms`).
    #[arg(long, env = "LINGER_MS", default_value_t = 5, global = true)]
    pub linger_ms: u64,

    /// When set, produce requests need `Authorization: Bearer <token>`.
    #[arg(long, env = "GATEWAY_AUTH_TOKEN", hide_env_values = true, global = true)]
    pub auth_token: Option<String>,

    /// With GATEWAY_AUTH_PASSWORD: produce requests may use HTTP Basic auth with these credentials.
    #[arg(long, env = "GATEWAY_AUTH_USERNAME", global = true)]
    pub auth_username: Option<String>,

    /// Password for GATEWAY_AUTH_USERNAME.
    #[arg(long, env = "GATEWAY_AUTH_PASSWORD", hide_env_values = true, global = true)]
    pub auth_password: Option<String>,

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
}

/// Why the configuration was refused; the message says what to set.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Checks what the types alone cannot. Run once at start, before anything connects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let refuse = |message: &str| Err(ConfigError(message.to_owned()));
        if self.kafka_brokers.trim().is_empty() {
            return refuse("KAFKA_BROKERS (--kafka-brokers) is empty; set it to host:port[,host:port...]");
        }
        if self.page_visits_topic.trim().is_empty() {
            return refuse("PAGE_VISITS_TOPIC (--page-visits-topic) is empty; set a topic name");
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
        if self.auth_token.as_deref().is_some_and(str::is_empty) {
            return refuse("GATEWAY_AUTH_TOKEN is set but empty; unset it to disable bearer auth, or give it a token");
        }
        match (self.auth_username.as_deref(), self.auth_password.as_deref()) {
            (Some(""), _) | (_, Some("")) => refuse(
                "GATEWAY_AUTH_USERNAME and GATEWAY_AUTH_PASSWORD must not be empty; unset both to disable basic auth",
            ),
            (Some(_), None) | (None, Some(_)) => {
                refuse("set both GATEWAY_AUTH_USERNAME and GATEWAY_AUTH_PASSWORD for basic auth, or neither")
            }
            (Some(user), Some(_)) if user.contains(':') => {
                refuse("GATEWAY_AUTH_USERNAME must not contain ':' (HTTP Basic separates user and password with it)")
            }
            _ => Ok(()),
        }
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
    fn it_refuses_a_non_numeric_body_limit_naming_the_flag() {
        let error = Cli::try_parse_from(["ingest-gateway", "--max-body-bytes", "lots"]).err().expect("refused");
        assert!(error.to_string().contains("--max-body-bytes"), "{error}");
    }
}
