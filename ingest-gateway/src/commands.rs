//! What each subcommand of `ingest-gateway` does, over the program's one [`Settings`], validated once at start
//! ([`Settings::validate`]). `main.rs` parses them, starts tracing and calls one of these.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::readiness::ClickHouseCheck;
use crate::replay::{self, Replay, ReplayConfig};
use crate::report::{parse_instant, render_visits_by_country};
use crate::sink::kafka::KafkaSink;
use crate::stats::cli::StatsCommand;
use crate::stats::{rollup, Stats, StatsConfig};
use crate::topics::{create_product_topic, TopicLayout};
use crate::{serve, warehouse, AppState, ShutdownDeadlines};

/// Every setting of the program, each read from its flag or environment variable (`ingest-gateway --help`).
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub config: Config,

    #[command(flatten)]
    pub replay: ReplayConfig,

    #[command(flatten)]
    pub stats: StatsConfig,

    #[command(flatten)]
    pub deploy: warehouse::DeployConfig,

    /// Log format (filter with RUST_LOG, default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the settings were refused, by the part that refused them; each message says what to set.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Gateway(#[from] ConfigError),
    #[error("invalid configuration: {0}")]
    Replay(String),
    #[error("invalid configuration: {0}")]
    Stats(String),
    #[error("invalid configuration: {0}")]
    Deploy(String),
}

impl Settings {
    /// Checks what the types alone cannot, once, before anything listens or connects.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.config.validate()?;
        self.replay.validate().map_err(SettingsError::Replay)?;
        self.stats.auth().map_err(SettingsError::Stats)?;
        self.deploy.validate().map_err(SettingsError::Deploy)?;
        Ok(())
    }
}

pub fn check_config(config: &Config, replay: &ReplayConfig, stats: &StatsConfig) -> anyhow::Result<()> {
    let auth = config.serving_auth()?;
    let rollup_interval = rollup_timer(config, stats)?;
    let replay_on = replay.auth().map_err(anyhow::Error::msg)?.is_some();
    let stats_on = stats.auth().map_err(anyhow::Error::msg)?.is_some();
    let settings: Vec<serde_json::Value> = Settings::augment_args(clap::Command::new("ingest-gateway"))
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?;
            Some(serde_json::json!({
                "env": env,
                "default": arg.get_default_values().first().map(|value| value.to_string_lossy()),
                "required": arg.is_required_set(),
                "secret": arg.is_hide_env_values_set(),
            }))
        })
        .collect();
    let clients: Vec<&str> = auth.clients().iter().map(|client| client.name.as_str()).collect();
    let serves = serde_json::json!({
        "produce_clients": clients,
        "replay": replay_on,
        "stats": stats_on,
        "dashboard": stats_on,
        "rollup_interval_s": rollup_interval.map_or(0, |interval| interval.as_secs()),
    });
    println!("{}", serde_json::json!({ "settings": settings, "serve": serves }));
    Ok(())
}

/// The interval `serve` runs the rollup timer at, `None` when STATS_ROLLUP_INTERVAL_S is 0; refuses a late
/// window that starts before the events' retention, whose days the timer could no longer write.
fn rollup_timer(config: &Config, stats: &StatsConfig) -> anyhow::Result<Option<Duration>> {
    if stats.stats_rollup_interval_s == 0 {
        return Ok(None);
    }
    let now = now_unix()?;
    let (from, _) = rollup::due(now, stats.stats_rollup_late_s);
    rollup::check_retention(from, now, config.events_retention_days).map_err(anyhow::Error::msg)?;
    Ok(Some(Duration::from_secs(stats.stats_rollup_interval_s.into())))
}

pub async fn run_server(
    config: &Config,
    replay_config: &ReplayConfig,
    stats_config: &StatsConfig,
    access: &warehouse::AccessConfig,
) -> anyhow::Result<()> {
    let sink = KafkaSink::new(config).context("cannot configure the Kafka producer")?;
    let replay = Replay::from_config(replay_config, clickhouse_client(config)).map_err(anyhow::Error::msg)?;
    if replay.is_none() {
        tracing::info!(
            "session replay is off: set REPLAY_TOKEN, or REPLAY_USERNAME and REPLAY_PASSWORD, to serve /replay"
        );
    }
    // The stats API (and the dashboard, which reads only through it) reads as the read-only user when one is
    // configured; the rollup timer below writes, so it keeps the main client.
    let stats = Stats::from_config(stats_config, reader_client(config, access)).map_err(anyhow::Error::msg)?;
    // The daily rows are kept whether or not the API is on: Grafana and `ingest-gateway stats` read them too.
    let rollups = rollup_timer(config, stats_config)?.map(|interval| {
        let (late_s, settle_s) = (stats_config.stats_rollup_late_s, stats_config.stats_rollup_settle_s);
        let retention_days = config.events_retention_days;
        tokio::spawn(rollup::supervised(clickhouse_client(config), interval, late_s, settle_s, retention_days))
    });
    if stats.is_none() {
        tracing::info!(
            "the stats API is off: set STATS_TOKEN, or STATS_USERNAME and STATS_PASSWORD, to serve /api/v1/stats"
        );
    }
    let state = AppState::from_config(Arc::new(sink), config)?
        .with_readiness_check(Arc::new(ClickHouseCheck::new(clickhouse_client(config))))
        .with_replay(replay)
        .with_stats(stats);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let clients: Vec<_> = state.auth.clients().iter().map(|client| client.name.as_str()).collect();
    tracing::info!(
        listen = %config.listen,
        brokers = %config.kafka_brokers,
        topics = ?state.topics.allowed_topics(),
        clients = ?clients,
        "serving the produce API"
    );
    let deadlines = ShutdownDeadlines {
        drain: Duration::from_millis(config.drain_timeout_ms),
        flush: Duration::from_millis(config.produce_timeout_ms),
    };
    let served = serve(listener, state, deadlines, shutdown_signal()).await;
    if let Some(rollups) = rollups {
        rollups.abort();
    }
    served?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}

pub async fn migrate(config: &Config, deploy: &warehouse::DeployConfig) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(30);
    let layout =
        TopicLayout { partitions: config.topic_partitions, replication_factor: deploy.topic_replication_factor };
    // Recording chunks are at most 64 KiB, about 90 KB as a JSON record: within the broker's default
    // 1 MiB `max.message.bytes`, so the recordings topic needs no topic config of its own.
    for topic in [&config.page_visits_topic, &config.session_recordings_topic] {
        let created = create_product_topic(&config.kafka_brokers, topic, layout, timeout)
            .await
            .with_context(|| format!("cannot create topic {topic} on {}", config.kafka_brokers))?;
        tracing::info!(%topic, partitions = layout.partitions, replication_factor = layout.replication_factor,
            outcome = ?created, "topic ready");
    }

    let client = clickhouse_client(config);
    let deployment = deploy.deployment(config.events_retention_days).map_err(anyhow::Error::msg)?;
    let applied = warehouse::migrate_with(&client, &config.sql_dir, &sql_vars(config), &deployment)
        .await
        .with_context(|| format!("cannot apply {} to {}", config.sql_dir.display(), config.clickhouse_url))?;
    let skipped = applied.iter().filter(|m| m.skipped).count();
    tracing::info!(applied = applied.len() - skipped, already_applied = skipped, "ClickHouse schema up to date");
    Ok(())
}

/// The same files, substitution and server form as `migrate`, for review and for tests on other engines.
pub fn print_migrations(
    config: &Config,
    deploy: &warehouse::DeployConfig,
    server_version: Option<&str>,
    rollups: bool,
) -> anyhow::Result<()> {
    let version = server_version.unwrap_or("18.16");
    let mut target = warehouse::Target::for_version(version)?;
    if deploy.clickhouse_cluster.is_some() && !target.modern {
        bail!("CLICKHOUSE_CLUSTER needs ClickHouse 21.8 or later: add --server-version (e.g. 24.8)");
    }
    target.cluster = deploy.clickhouse_cluster.clone();
    target.database = config.clickhouse_database.clone();
    target.events_retention_days = config.events_retention_days;
    if rollups {
        let statements = warehouse::rollup_statements_after_files(&config.sql_dir, &sql_vars(config), &target)
            .with_context(|| format!("cannot read the migrations in {}", config.sql_dir.display()))?;
        println!("{}", serde_json::to_string_pretty(&statements)?);
        return Ok(());
    }
    let migrations = warehouse::read_migrations_for(&config.sql_dir, &sql_vars(config), &target)
        .with_context(|| format!("cannot read the migrations in {}", config.sql_dir.display()))?;
    println!("{}", serde_json::to_string_pretty(&migrations)?);
    Ok(())
}

fn sql_vars(config: &Config) -> warehouse::SqlVars {
    warehouse::SqlVars {
        kafka_brokers: config.kafka_brokers.clone(),
        page_visits_topic: config.page_visits_topic.clone(),
        session_recordings_topic: config.session_recordings_topic.clone(),
        consumer_group: config.clickhouse_kafka_group.clone(),
    }
}

pub async fn visits_by_country(
    config: &Config,
    site: &str,
    from: Option<String>,
    to: Option<String>,
) -> anyhow::Result<()> {
    let from_unix =
        from.as_deref().map(parse_instant).transpose().map_err(anyhow::Error::msg).context("--from")?.unwrap_or(0);
    let to_unix = match to.as_deref() {
        Some(text) => parse_instant(text).map_err(anyhow::Error::msg).context("--to")?,
        None => now_unix()?.saturating_add(1),
    };
    if from_unix >= to_unix {
        bail!("--from must be before --to");
    }
    let rows = warehouse::visits_by_country(&clickhouse_client(config), site, from_unix, to_unix).await?;
    print!("{}", render_visits_by_country(&rows));
    Ok(())
}

pub fn bind_sql(file: &std::path::Path, filter_args: &[String], values: &[String]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let template = analytics_model::Template::parse(&text).with_context(|| format!("{}", file.display()))?;
    let mut filters = analytics_model::Filters::default();
    for filter in filter_args {
        let (name, value) = filter.split_once('=').with_context(|| format!("--filter {filter:?} is not NAME=VALUE"))?;
        filters.set(name, value).with_context(|| format!("--filter {name}"))?;
    }
    let rendered = template.render(&filters);
    let mut query = clickhouse::Client::default().query(&rendered.sql);
    for (index, value) in values.iter().enumerate() {
        if index == rendered.binds_before_filters {
            for filter_value in &rendered.values {
                query = query.bind(filter_value.as_str());
            }
        }
        let value: serde_json::Value =
            serde_json::from_str(value).with_context(|| format!("value {} is not JSON: {value}", index + 1))?;
        query = match value {
            serde_json::Value::String(text) => query.bind(text),
            serde_json::Value::Number(number) if number.is_u64() => query.bind(number.as_u64()),
            serde_json::Value::Number(number) if number.is_i64() => query.bind(number.as_i64()),
            serde_json::Value::Array(items) if items.iter().all(serde_json::Value::is_string) => {
                query.bind(items.iter().filter_map(serde_json::Value::as_str).collect::<Vec<_>>())
            }
            serde_json::Value::Array(items) if items.iter().all(serde_json::Value::is_u64) => {
                query.bind(items.iter().filter_map(serde_json::Value::as_u64).collect::<Vec<_>>())
            }
            other => bail!(
                "value {} must be a string, a whole number or a list of strings or of whole numbers, not {other}",
                index + 1
            ),
        };
    }
    if values.len() <= rendered.binds_before_filters {
        for filter_value in &rendered.values {
            query = query.bind(filter_value.as_str());
        }
    }
    println!("{}", query.sql_display());
    Ok(())
}

pub async fn stats(config: &Config, stats: &StatsConfig, command: &StatsCommand) -> anyhow::Result<()> {
    let freshness = stats.freshness();
    let client = crate::stats::budgeted(
        clickhouse_client(config),
        stats.stats_query_timeout_s,
        stats.stats_query_max_memory_bytes,
    );
    let table = crate::stats::cli::run(&client, command, now_unix()?, freshness).await?;
    print!("{table}");
    Ok(())
}

pub async fn rollup(
    config: &Config,
    stats: &StatsConfig,
    days: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
) -> anyhow::Result<()> {
    let client = clickhouse_client(config);
    let (now, version) = rollup::server_clock(&client)
        .await
        .with_context(|| format!("cannot read the time of ClickHouse on {}", config.clickhouse_url))?;
    let (late_s, settle_s) = (stats.stats_rollup_late_s, stats.stats_rollup_settle_s);
    let started = std::time::Instant::now();
    let retention_days = config.events_retention_days;
    let written = match days {
        None => {
            rollup::check_retention(rollup::due(now, late_s).0, now, retention_days).map_err(anyhow::Error::msg)?;
            rollup::run_due(&client, (now, version), late_s, settle_s, retention_days).await
        }
        Some((from, to)) => {
            let start = |day: chrono::NaiveDate| {
                day.and_hms_opt(0, 0, 0).and_then(|t| u32::try_from(t.and_utc().timestamp()).ok())
            };
            let range = match (start(from), to.succ_opt().and_then(start)) {
                (Some(from), Some(to)) if from < to => (from, to),
                _ => bail!("--from must be a day before or equal to --to, from 1970 to 2106"),
            };
            rollup::check_retention(range.0, now, retention_days).map_err(anyhow::Error::msg)?;
            rollup::run(&client, range, now, late_s, version).await
        }
    };
    let days = written.with_context(|| format!("cannot write the stats rollup on {}", config.clickhouse_url))?;
    tracing::info!(?days, elapsed_ms = started.elapsed().as_millis(), "stats rollup written");
    Ok(())
}

pub async fn retention(config: &Config, replay_config: &ReplayConfig) -> anyhow::Result<()> {
    let now = chrono::DateTime::from(SystemTime::now());
    let client = clickhouse_client(config);
    let days = replay_config.recording_retention_days;
    let report = replay::retention::apply(&client, days, now)
        .await
        .with_context(|| format!("cannot apply the recording retention on {}", config.clickhouse_url))?;
    tracing::info!(
        days,
        cutoff = %report.cutoff,
        dropped_partitions = ?report.dropped_partitions,
        deleted_rows = ?report.deleted_rows,
        "recordings received before the cutoff are deleted (row deletions finish in the background)"
    );
    let days = config.events_retention_days;
    match crate::retention::apply_events(&client, days, now)
        .await
        .with_context(|| format!("cannot apply the page events retention on {}", config.clickhouse_url))?
    {
        None => tracing::info!("page events are kept forever (EVENTS_RETENTION_DAYS is 0)"),
        Some(report) => tracing::info!(
            days,
            cutoff = %report.cutoff,
            dropped_partitions = ?report.dropped_partitions,
            "page_visits months wholly before the cutoff are dropped; the rollups keep their numbers"
        ),
    }
    Ok(())
}

fn clickhouse_client(config: &Config) -> clickhouse::Client {
    warehouse::client(
        &config.clickhouse_url,
        &config.clickhouse_database,
        &config.clickhouse_user,
        &config.clickhouse_password,
    )
}

/// The same server and database as [`clickhouse_client`], logged in as [`Config::reader_login`].
fn reader_client(config: &Config, access: &warehouse::AccessConfig) -> clickhouse::Client {
    let (user, password) = config.reader_login(access);
    warehouse::client(&config.clickhouse_url, &config.clickhouse_database, user, password)
}

fn now_unix() -> anyhow::Result<u32> {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).context("the clock is before 1970")?.as_secs();
    u32::try_from(seconds).context("the clock is past 2106")
}
