//! `ingest-gateway serve | migrate | query ... | stats ... | retention | rollup | check-config | bind-sql`:
//! parses the settings, validates them once ([`Settings::validate`]), starts tracing and runs one subcommand
//! ([`commands`]); everything else lives in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ingest_gateway::commands::{self, LogFormat, Settings};
use ingest_gateway::stats::cli::StatsCommand;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "Pathlight ingest gateway: Redpanda-compatible produce API, topic and ClickHouse setup, reports"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve `POST /topics/{topic}`, `GET /healthz`, `GET /readyz` and `GET /metrics`.
    Serve,
    /// Create the Kafka topics, then apply the `sql/` migrations to ClickHouse.
    Migrate {
        /// Only print every migration as JSON (file, version, the statement as it would be sent, checksum)
        /// and connect nowhere.
        #[arg(long)]
        print: bool,
        /// With --print: the form for a server of this version (e.g. 24.8; 18.16 by default), which
        /// `migrate` itself asks the server for.
        #[arg(long, requires = "print", value_name = "VERSION")]
        server_version: Option<String>,
        /// With --print: print instead, as a JSON list, the statements `migrate` runs after the files on a new
        /// database to give the rollups a dimension of the analytics model that the files do not have (none
        /// while the model has only the files' dimensions).
        #[arg(long, requires = "print")]
        rollups: bool,
    },
    /// Print a report.
    #[command(subcommand)]
    Query(Query),
    /// Print web analytics as a table: the same numbers as GET /api/v1/stats/....
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Delete session recordings received more than RECORDING_RETENTION_DAYS days ago and the months of raw
    /// page events wholly older than EVENTS_RETENTION_DAYS days (run it daily).
    Retention,
    /// Write the stats' finalized daily rows (sql/016-018) of the past days of the late window
    /// (STATS_ROLLUP_LATE_S) that received events since their last run, or of the given UTC days;
    /// idempotent. The server does the former every STATS_ROLLUP_INTERVAL_S.
    Rollup {
        /// First day (YYYY-MM-DD, UTC), inclusive.
        #[arg(long, requires = "to")]
        from: Option<chrono::NaiveDate>,
        /// Last day (YYYY-MM-DD, UTC), inclusive.
        #[arg(long, requires = "from")]
        to: Option<chrono::NaiveDate>,
    },
    /// Check the settings (environment and flags) as `serve` does, connecting nowhere, and print as JSON
    /// every setting's environment variable (its default, whether it is required, whether it is secret) and
    /// what the settings turn on: the produce API's clients, replay, the stats API and dashboard, the rollup
    /// timer. How a deployment file is checked against what the program needs.
    CheckConfig,
    /// Print a query file as the gateway runs it, connecting nowhere: its analytics-model markers filled, its
    /// filters written, its `?` placeholders bound. How tests run the gateway's query files on other
    /// ClickHouse engines without a template renderer or binder of their own.
    BindSql {
        /// The query file, e.g. sql/queries/visits_by_country.sql.
        file: std::path::PathBuf,
        /// A filter NAME=VALUE (an API name, e.g. country=DE), written at the file's filter marker with its
        /// value bound there; repeatable.
        #[arg(long = "filter", value_name = "NAME=VALUE")]
        filters: Vec<String>,
        /// One JSON value per `?`, in order: a string ("a.example"), a whole number (1767225600) or a list of
        /// strings (["2026-01-01"]).
        values: Vec<String>,
    },
}

#[derive(Subcommand)]
enum Query {
    /// Page views and distinct visitors per country.
    VisitsByCountry {
        /// The site as the snippet's `data-site` names it, e.g. example.com.
        #[arg(long)]
        site: String,
        /// Start, inclusive: unix seconds or RFC 3339. Default: the beginning of time.
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive: unix seconds or RFC 3339. Default: now (inclusive).
        #[arg(long)]
        to: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { settings, command } = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match settings.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
    }
    if let Err(error) = settings.validate() {
        eprintln!("ingest-gateway: {error}");
        return ExitCode::from(2);
    }
    let Settings { config, replay, stats, deploy, .. } = &settings;
    let result = match command {
        Command::Serve => commands::run_server(config, replay, stats, &deploy.access).await,
        Command::Migrate { print: false, .. } => commands::migrate(config, deploy).await,
        Command::Migrate { print: true, server_version, rollups } => {
            commands::print_migrations(config, deploy, server_version.as_deref(), rollups)
        }
        Command::Query(Query::VisitsByCountry { site, from, to }) => {
            commands::visits_by_country(config, &site, from, to).await
        }
        Command::Stats(command) => commands::stats(config, stats, &command).await,
        Command::Retention => commands::retention(config, replay).await,
        Command::Rollup { from, to } => commands::rollup(config, stats, from.zip(to)).await,
        Command::BindSql { file, filters, values } => commands::bind_sql(&file, &filters, &values),
        Command::CheckConfig => commands::check_config(config, replay, stats),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
