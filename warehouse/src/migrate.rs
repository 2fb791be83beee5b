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
//!
//! The server's version is asked once, and every file goes out in the form `variant` derives for it (on
//! 18.16, exactly as written); the generated statements of a file run with it and are recorded with it,
//! and are idempotent like it. After the files, the rollups are brought to the analytics model's shape
//! (`super::rollups`: a new dimension's columns and views), and what comes from configuration is brought up
//! to date on every run: the events' TTL and the users.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clickhouse::sql::Identifier;
use clickhouse::Client;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::access::{self, Role};
use super::sql_text::substitute;
use super::variant::{Rewriter, Target, EVENT_RETENTION_TABLES};
use super::{Applied, Deployment, ManagedUser, Migration, SqlVars, WarehouseError};

const CREATE_BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
     (version UInt32, name String, checksum String, applied_at DateTime DEFAULT now()) \
     ENGINE = MergeTree ORDER BY version";

#[derive(clickhouse::Row, Deserialize)]
struct AppliedRow {
    version: u32,
    checksum: String,
}

/// Applies the files to a single server with nothing configured beyond them: no cluster, no users, events
/// kept forever.
pub async fn migrate(client: &Client, sql_dir: &Path, vars: &SqlVars) -> Result<Vec<Applied>, WarehouseError> {
    migrate_with(client, sql_dir, vars, &Deployment::default()).await
}

/// Applies the files in the form the server takes, then the configured retention and users.
pub async fn migrate_with(
    client: &Client,
    sql_dir: &Path,
    vars: &SqlVars,
    deployment: &Deployment,
) -> Result<Vec<Applied>, WarehouseError> {
    let (version, mut target) = server_target(client).await?;
    if deployment.cluster.is_some() && !target.modern {
        return Err(WarehouseError::ClusterNeedsCurrentServer { version });
    }
    target.cluster = deployment.cluster.clone();
    target.events_retention_days = deployment.events_retention_days;
    tracing::info!(%version, form = %target, "ClickHouse server");

    // Everything that can be checked offline is checked before the first statement runs.
    let (migrations, mut rewriter) = read_with_rewriter(sql_dir, vars, &target)?;
    let user_statements = user_statements(deployment, &target)?;

    create_database(client, target.cluster.as_deref()).await?;
    client.query_raw(&bookkeeping(target.cluster.as_deref())).execute().await?;
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

    super::rollups::keep(client, &mut rewriter, analytics_model::DIMENSIONS).await?;

    if target.modern {
        keep_event_retention(client, &target).await?;
        debug_assert_eq!(user_statements.len(), deployment.users.len());
        for (user, statements) in deployment.users.iter().zip(&user_statements) {
            keep_user(client, user, statements).await?;
        }
    } else {
        check_legacy_users(client, deployment, &version).await?;
    }
    Ok(report)
}

/// Brings the rollups to the shape of `dimensions` on a single server (what `migrate` does after the files,
/// with the model's own dimensions), and returns the statements it ran. For tests and tools that ask with
/// another list of dimensions than the model's.
pub async fn keep_rollups(
    client: &Client,
    sql_dir: &Path,
    vars: &SqlVars,
    dimensions: &[analytics_model::Dimension],
) -> Result<Vec<String>, WarehouseError> {
    let (_, target) = server_target(client).await?;
    let (_, mut rewriter) = read_with_rewriter(sql_dir, vars, &target)?;
    super::rollups::keep(client, &mut rewriter, dimensions).await
}

/// The server's version, and the form of a single server of that version for the client's database.
async fn server_target(client: &Client) -> Result<(String, Target), WarehouseError> {
    let system = client.clone().with_database("system");
    let version: String = system.query("SELECT version()").fetch_one().await?;
    let mut target = Target::for_version(&version).map_err(|e| WarehouseError::Access(e.to_string()))?;
    target.database = client.database().unwrap_or("default").to_owned();
    Ok((version, target))
}

/// What `migrate` runs after the files on a new database for the rollups (see `super::rollups`), in the form
/// of `target`; touches no server.
pub fn rollup_statements_after_files(
    sql_dir: &Path,
    vars: &SqlVars,
    target: &Target,
) -> Result<Vec<String>, WarehouseError> {
    let (_, mut rewriter) = read_with_rewriter(sql_dir, vars, target)?;
    super::rollups::in_form(&mut rewriter, &super::rollups::statements_after_files(target.modern))
}

/// The statements of each configured user, in the order of `deployment.users`.
fn user_statements(deployment: &Deployment, target: &Target) -> Result<Vec<Vec<String>>, WarehouseError> {
    deployment
        .users
        .iter()
        .map(|user| {
            access::statements(user, &target.database, target.cluster.as_deref()).map_err(WarehouseError::Access)
        })
        .collect()
}

/// Creates or updates one user. A user that users.xml defines (as the Docker setup defines `grafana`) is
/// read-only to SQL: it is left as it is, and said so, rather than failing the whole run.
async fn keep_user(client: &Client, user: &ManagedUser, statements: &[String]) -> Result<(), WarehouseError> {
    let storage: Option<String> = client
        .query("SELECT storage FROM system.users WHERE name = ?")
        .bind(&user.name)
        .fetch_optional()
        .await
        .map_err(|source| {
            WarehouseError::Access(format!(
                "cannot look up ClickHouse user {}: {source} (CLICKHOUSE_USER needs access_management to manage users)",
                user.name
            ))
        })?;
    if storage.as_deref() == Some("users_xml") {
        tracing::warn!(user = %user.name, "this ClickHouse user is defined in the server's users.xml, which SQL cannot change: migrate leaves it as it is");
        return Ok(());
    }
    for statement in statements {
        let result = client.query_raw(statement).execute().await;
        // Older servers have no KAFKA right: they refuse to grant it, and do not check it either.
        if let Err(error) = &result {
            let message = error.to_string();
            let unknown_right = message.contains("UNKNOWN_ACCESS_TYPE") || message.contains("SYNTAX_ERROR");
            if statement.contains(access::KAFKA_RIGHT) && unknown_right {
                tracing::info!(user = %user.name, "this ClickHouse has no KAFKA right to grant; it does not check one");
                continue;
            }
        }
        result.map_err(|source| {
            WarehouseError::Access(format!(
                "cannot create or update ClickHouse user {}: {source} (CLICKHOUSE_USER needs access_management and \
                 the rights it grants)",
                user.name
            ))
        })?;
    }
    tracing::info!(user = %user.name, role = ?user.role, "ClickHouse user up to date");
    Ok(())
}

/// `schema_migrations`: on a cluster, one replicated table shared by every node (its path has no
/// `{shard}`), so whichever node `migrate` reaches next knows what was applied.
fn bookkeeping(cluster: Option<&str>) -> String {
    match cluster {
        None => CREATE_BOOKKEEPING.to_owned(),
        Some(cluster) => {
            CREATE_BOOKKEEPING.replace("schema_migrations", &format!("schema_migrations ON CLUSTER {cluster}")).replace(
                "ENGINE = MergeTree",
                "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{database}/schema_migrations', '{replica}')",
            )
        }
    }
}

/// EVENTS_RETENTION_DAYS may change after the tables were created: the TTL the tables carry is compared
/// with it on every run and changed (`MODIFY TTL`, which also applies it to the stored rows) or removed.
async fn keep_event_retention(client: &Client, target: &Target) -> Result<(), WarehouseError> {
    #[derive(clickhouse::Row, Deserialize)]
    struct EngineRow {
        engine_full: String,
    }
    let days = target.events_retention_days;
    for (table, column) in EVENT_RETENTION_TABLES {
        let local = if target.cluster.is_some() { format!("{table}_local") } else { (*table).to_owned() };
        let found = client
            .query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ?")
            .bind(&local)
            .fetch_optional::<EngineRow>()
            .await?;
        let Some(EngineRow { engine_full }) = found else { continue };
        let wanted = format!("TTL {column} + toIntervalDay({days})");
        let on_cluster = target.cluster.as_ref().map(|c| format!(" ON CLUSTER {c}")).unwrap_or_default();
        let change = match (days, engine_full.contains(" TTL ")) {
            (0, true) => format!("ALTER TABLE {local}{on_cluster} REMOVE TTL"),
            (0, false) => continue,
            _ if engine_full.contains(&wanted) => continue,
            _ => format!("ALTER TABLE {local}{on_cluster} MODIFY TTL {column} + INTERVAL {days} DAY"),
        };
        client.query_raw(&change).execute().await?;
        tracing::info!(table = %local, days, "events retention changed");
    }
    Ok(())
}

/// 18.16 keeps users in users.xml: `migrate` cannot make them, so it checks that each configured one can
/// log in and says where to define it when it cannot.
async fn check_legacy_users(client: &Client, deployment: &Deployment, version: &str) -> Result<(), WarehouseError> {
    for user in &deployment.users {
        let login = client.clone().with_user(&user.name).with_password(user.password());
        let rights = match user.role {
            Role::ReadOnly => ", profile with readonly = 2, allow_databases: this database",
            Role::Writer => ", allow_databases: this database",
        };
        login.query("SELECT 1").fetch_one::<u8>().await.map_err(|source| WarehouseError::LegacyUser {
            version: version.to_owned(),
            user: user.name.clone(),
            rights,
            source,
        })?;
        tracing::warn!(
            user = %user.name,
            %version,
            "ClickHouse {version} has no SQL access control: migrate did not create or change this user; it is \
             defined in users.xml and logs in with the configured password, with the rights users.xml gives it"
        );
    }
    Ok(())
}

async fn apply(client: &Client, migration: &Migration) -> Result<(), WarehouseError> {
    // `query_raw`: DDL is sent verbatim, so a `?` in it is never mistaken for a bind placeholder.
    let statements = migration.before.iter().chain([&migration.statement]).chain(&migration.after);
    for statement in statements {
        client
            .query_raw(statement)
            .execute()
            .await
            .map_err(|source| WarehouseError::Statement { file: migration.file.clone(), source })?;
    }
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
async fn create_database(client: &Client, cluster: Option<&str>) -> Result<(), WarehouseError> {
    let Some(database) = client.database() else {
        return Ok(()); // the server's default database
    };
    let sql = if cluster.is_some() {
        "CREATE DATABASE IF NOT EXISTS ? ON CLUSTER ?"
    } else {
        "CREATE DATABASE IF NOT EXISTS ?"
    };
    let mut query = client.clone().with_database("system").query(sql).bind(Identifier(database));
    if let Some(cluster) = cluster {
        query = query.bind(Identifier(cluster));
    }
    query.execute().await?;
    Ok(())
}

/// Every `NNN_name.sql` file of `sql_dir` in version order, substituted with `vars`, exactly as `migrate`
/// sends them to ClickHouse 18.16; touches no server.
pub fn read_migrations(sql_dir: &Path, vars: &SqlVars) -> Result<Vec<Migration>, WarehouseError> {
    read_migrations_for(sql_dir, vars, &Target::legacy())
}

/// The same files in the form `target` takes, exactly as `migrate` would send them; touches no server, so
/// `migrate --print` and the chDB tests use it to see the same statements.
pub fn read_migrations_for(sql_dir: &Path, vars: &SqlVars, target: &Target) -> Result<Vec<Migration>, WarehouseError> {
    read_with_rewriter(sql_dir, vars, target).map(|(migrations, _)| migrations)
}

/// [`read_migrations_for`], and the rewriter that has read them all (so that it writes later statements for
/// the tables they create).
pub(crate) fn read_with_rewriter(
    sql_dir: &Path,
    vars: &SqlVars,
    target: &Target,
) -> Result<(Vec<Migration>, Rewriter), WarehouseError> {
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

    let mut rewriter = Rewriter::new(target.clone());
    let migrations = files
        .into_iter()
        .map(|(version, name, path)| {
            let text = std::fs::read_to_string(&path).map_err(read_error(&path))?;
            let substituted =
                substitute(&text, vars).map_err(|source| WarehouseError::Placeholder { file: name.clone(), source })?;
            let variant = rewriter
                .rewrite(&substituted)
                .map_err(|source| WarehouseError::Variant { file: name.clone(), source })?;
            Ok(Migration {
                version,
                checksum: hex::encode(Sha256::digest(text.as_bytes())),
                statement: variant.statement,
                before: variant.before,
                after: variant.after,
                file: name,
            })
        })
        .collect::<Result<Vec<_>, WarehouseError>>()?;
    Ok((migrations, rewriter))
}

/// The golden text of one migration: its statements in the order they run, each ending with `;`.
pub fn render_golden(migration: &Migration) -> String {
    let statements = migration.before.iter().chain([&migration.statement]).chain(&migration.after);
    let mut out = String::new();
    for statement in statements {
        let statement = statement.trim_end();
        out.push_str(statement);
        if !statement.ends_with(';') {
            out.push(';');
        }
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
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

    /// The cluster form of sql/ as `migrate` generates it for the documented example (docs/CLUSTER.md):
    /// cluster `pathlight`, database `pathlight`, events kept 90 days, both users configured.
    fn cluster_golden() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
        let target = Target {
            modern: true,
            cluster: Some("pathlight".into()),
            database: "pathlight".into(),
            events_retention_days: 90,
        };
        let migrations = read_migrations_for(&dir, &vars(), &target).expect("sql/ has a cluster form");
        let mut files: Vec<(String, String)> = migrations.iter().map(|m| (m.file.clone(), render_golden(m))).collect();
        let access = crate::AccessConfig {
            clickhouse_readonly_user: Some("grafana".into()),
            clickhouse_readonly_password: Some(crate::Secret::new("example-readonly-password")),
            clickhouse_writer_user: Some("pathlight_gateway".into()),
            clickhouse_writer_password: Some(crate::Secret::new("example-writer-password")),
        };
        let deployment = Deployment { users: access.users().expect("valid users"), ..Deployment::default() };
        let statements: Vec<String> = user_statements(&deployment, &target).expect("valid names").concat();
        files.push(("access.sql".into(), statements.iter().map(|s| format!("{s};\n")).collect::<Vec<_>>().join("\n")));
        files
    }

    #[test]
    fn the_cluster_form_of_every_migration_is_the_golden_file() {
        let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/golden/cluster");
        let files = cluster_golden();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&golden_dir).expect("creates the golden dir");
            for entry in std::fs::read_dir(&golden_dir).expect("lists the golden dir") {
                std::fs::remove_file(entry.expect("lists").path()).expect("removes a stale golden file");
            }
            for (name, text) in &files {
                std::fs::write(golden_dir.join(name), text).expect("writes a golden file");
            }
        }
        let mut on_disk: Vec<String> = std::fs::read_dir(&golden_dir)
            .expect("sql/golden/cluster exists (UPDATE_GOLDEN=1 cargo test -p warehouse golden writes it)")
            .map(|entry| entry.expect("lists").file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut expected: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
        expected.sort();
        assert_eq!(
            on_disk, expected,
            "golden files and migrations differ: rerun with UPDATE_GOLDEN=1 and review the diff"
        );
        for (name, text) in files {
            let golden = std::fs::read_to_string(golden_dir.join(&name)).expect("reads a golden file");
            assert!(golden == text, "sql/golden/cluster/{name} is not what migrate generates now: rerun with UPDATE_GOLDEN=1 and review the diff");
        }
    }

    #[test]
    fn the_cluster_form_puts_every_statement_on_the_cluster_and_replicates_every_merge_tree() {
        for (name, text) in cluster_golden() {
            for statement in text.split(";\n\n") {
                let code: String =
                    statement.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
                assert!(code.contains("ON CLUSTER pathlight"), "{name}: {code}");
                let engine = code.split("ENGINE = ").nth(1).unwrap_or("");
                assert!(
                    !engine.starts_with("MergeTree")
                        && !engine.contains(" MergeTree")
                        && !engine.starts_with("Replacing")
                        && !engine.starts_with("Aggregating"),
                    "{name}: an unreplicated MergeTree: {code}"
                );
            }
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
