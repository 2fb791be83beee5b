//! Applies the numbered files of `sql/` in version order, once each, and remembers what it applied.
//!
//! Migrations are read from a directory at run time (not embedded), so what runs against a server is the
//! file an operator can read next to the binary, and a deployment ships schema and code together.
//! A file's checksum is taken over its text before substitution: the Kafka settings come from config, and
//! changing config must not make an applied file look edited.
//!
//! Each file is one statement and goes to the server whole, comments and trailing `;` included (ClickHouse
//! 18.16 and current versions both accept them), so no code here or in the tests has to split SQL. A file
//! holding two statements is refused by the server itself ("Multi-statements are not allowed") before any
//! of it runs. One statement per file also makes a file all-or-nothing, which ClickHouse's
//! non-transactional DDL could not otherwise give: a file is recorded in `schema_migrations` after its
//! statement succeeded, and a failed one is simply run again next time, so every statement that can be
//! idempotent must be (`IF NOT EXISTS`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clickhouse::sql::Identifier;
use clickhouse::Client;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::sql_text::substitute;
use super::{Applied, Migration, SqlVars, WarehouseError};

const CREATE_BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
     (version UInt32, name String, checksum String, applied_at DateTime DEFAULT now()) \
     ENGINE = MergeTree ORDER BY version";

#[derive(clickhouse::Row, Deserialize)]
struct AppliedRow {
    version: u32,
    checksum: String,
}

pub async fn migrate(client: &Client, sql_dir: &Path, vars: &SqlVars) -> Result<Vec<Applied>, WarehouseError> {
    // Everything that can be checked offline is checked before the first statement runs.
    let migrations = read_migrations(sql_dir, vars)?;

    create_database(client).await?;
    client.query_raw(CREATE_BOOKKEEPING).execute().await?;
    let applied: HashMap<u32, String> = client
        .query("SELECT version, checksum FROM schema_migrations")
        .fetch_all::<AppliedRow>()
        .await?
        .into_iter()
        .map(|row| (row.version, row.checksum))
        .collect();

    // Refuse before applying anything, so an edited file never leaves the schema half-way.
    for migration in &migrations {
        match applied.get(&migration.version) {
            Some(checksum) if *checksum != migration.checksum => {
                return Err(WarehouseError::ChecksumMismatch {
                    file: migration.file.clone(),
                    applied: checksum.clone(),
                    current: migration.checksum.clone(),
                });
            }
            _ => {}
        }
    }

    let mut report = Vec::with_capacity(migrations.len());
    for migration in migrations {
        let skipped = applied.contains_key(&migration.version);
        if !skipped {
            apply(client, &migration).await?;
        }
        report.push(Applied { version: migration.version, name: migration.file, skipped });
    }
    Ok(report)
}

async fn apply(client: &Client, migration: &Migration) -> Result<(), WarehouseError> {
    // `query_raw`: DDL is sent verbatim, so a `?` in it is never mistaken for a bind placeholder.
    client
        .query_raw(&migration.statement)
        .execute()
        .await
        .map_err(|source| WarehouseError::Statement { file: migration.file.clone(), source })?;
    client
        .query("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
        .bind(migration.version)
        .bind(&migration.file)
        .bind(&migration.checksum)
        .execute()
        .await?;
    tracing::info!(version = migration.version, file = %migration.file, "applied migration");
    Ok(())
}

/// The client names its database on every request, and ClickHouse rejects a request naming a database
/// that does not exist yet, so this one statement goes through `system`, which always does.
async fn create_database(client: &Client) -> Result<(), WarehouseError> {
    let Some(database) = client.database() else {
        return Ok(()); // the server's default database
    };
    client
        .clone()
        .with_database("system")
        .query("CREATE DATABASE IF NOT EXISTS ?")
        .bind(Identifier(database))
        .execute()
        .await?;
    Ok(())
}

/// Every `NNN_name.sql` file of `sql_dir` in version order, substituted with `vars`, exactly as `migrate`
/// would send them; touches no server, so `migrate --print` and the chDB tests use it to see the same
/// statements.
pub fn read_migrations(sql_dir: &Path, vars: &SqlVars) -> Result<Vec<Migration>, WarehouseError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WarehouseError::ReadMigrations { path, source }
    };
    let mut files: Vec<(u32, String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(sql_dir).map_err(read_error(sql_dir))? {
        let path = entry.map_err(read_error(sql_dir))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !path.is_file() || !name.ends_with(".sql") {
            continue; // README.md, queries/
        }
        let version = parse_version(&name).ok_or_else(|| WarehouseError::MigrationName { file: name.clone() })?;
        files.push((version, name, path));
    }
    if files.is_empty() {
        return Err(WarehouseError::NoMigrations { dir: sql_dir.to_path_buf() });
    }
    files.sort();
    if let Some(pair) = files.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(WarehouseError::DuplicateVersion {
            version: pair[0].0,
            first: pair[0].1.clone(),
            second: pair[1].1.clone(),
        });
    }

    files
        .into_iter()
        .map(|(version, name, path)| {
            let text = std::fs::read_to_string(&path).map_err(read_error(&path))?;
            let substituted =
                substitute(&text, vars).map_err(|source| WarehouseError::Placeholder { file: name.clone(), source })?;
            Ok(Migration {
                version,
                checksum: hex::encode(Sha256::digest(text.as_bytes())),
                statement: substituted,
                file: name,
            })
        })
        .collect()
}

/// `001_page_visits.sql` -> 1. The version is the digits before the first `_`; a name is required.
fn parse_version(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".sql")?;
    let (digits, name) = stem.split_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_the_version_from_the_file_name() {
        assert_eq!(parse_version("001_page_visits.sql"), Some(1));
        assert_eq!(parse_version("120_add_column_x.sql"), Some(120));
        for bad in ["page_visits.sql", "001.sql", "001_.sql", "v1_x.sql", "1a_x.sql", "_x.sql"] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }

    fn vars() -> SqlVars {
        SqlVars {
            kafka_brokers: "127.0.0.1:19092".into(),
            page_visits_topic: "page_visits".into(),
            session_recordings_topic: "session_recordings".into(),
            consumer_group: "clickhouse-page-visits".into(),
        }
    }

    #[test]
    fn the_repository_migrations_read_in_version_order_each_file_one_substituted_statement() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
        let migrations = read_migrations(&dir, &vars()).expect("sql/ reads");
        let first: Vec<(u32, &str)> = migrations.iter().take(3).map(|m| (m.version, m.file.as_str())).collect();
        assert_eq!(
            first,
            [(1, "001_page_visits.sql"), (2, "002_page_visits_queue.sql"), (3, "003_page_visits_mv.sql")]
        );
        assert!(migrations.windows(2).all(|pair| pair[0].version < pair[1].version));
        let queue = &migrations[1].statement;
        assert!(queue.contains("kafka_topic_list = 'page_visits'"), "{queue}");
        for migration in &migrations {
            assert!(!migration.statement.contains("${"), "{}", migration.file);
            assert_eq!(migration.checksum.len(), 64);
        }
    }

    #[test]
    fn a_file_is_sent_as_written_apart_from_its_placeholders() {
        let dir = std::env::temp_dir().join(format!("pathlight-migrations-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creates a temp dir");
        let text =
            "-- why this table exists; with a semicolon\nCREATE TABLE IF NOT EXISTS t (x String) ENGINE = Kafka \
                    SETTINGS kafka_topic_list = '${PAGE_VISITS_TOPIC}';\n";
        std::fs::write(dir.join("001_t.sql"), text).expect("writes a migration");
        let read = read_migrations(&dir, &vars());
        std::fs::remove_dir_all(&dir).expect("removes the temp dir");
        let migrations = read.expect("reads");
        assert_eq!(migrations.len(), 1);
        assert_eq!(migrations[0].statement, text.replace("${PAGE_VISITS_TOPIC}", "page_visits"));
        assert_eq!(migrations[0].checksum, hex::encode(Sha256::digest(text.as_bytes())), "taken before substitution");
    }
}
