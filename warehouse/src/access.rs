//! The ClickHouse users Pathlight's readers and writers log in as, made by `migrate` from configured
//! credentials: never a built-in or default password, and nothing but the rights each one needs.
//!
//! ClickHouse cannot bind values in `CREATE USER`, so the statements are text, made safe by construction:
//! a user or database name must be a plain identifier (checked, then backquoted), and a password never
//! enters the SQL at all, only its SHA-256 in hex (`IDENTIFIED WITH sha256_hash`), which cannot close a
//! quote. ClickHouse 18.16 has no SQL access control (users live in users.xml); there `migrate` only checks
//! that the configured users can log in, and says where to define them when they cannot.

use clap::Args;
use sha2::{Digest, Sha256};

use crate::Secret;

/// The rights of the writer user on Pathlight's database: what `migrate` needs for every migration (create,
/// alter and drop tables and views, create the database, record what it applied) and what the gateway's
/// own statements need (read and insert; `ALTER ... DELETE` and `DROP PARTITION` for retention and the
/// deletion of a recording). Nothing on other databases, no user management.
pub const WRITER_GRANTS: &str =
    "SELECT, INSERT, ALTER, CREATE TABLE, CREATE VIEW, DROP TABLE, DROP VIEW, CREATE DATABASE";

/// The global right to create Kafka-engine tables, granted separately: servers before it existed refuse to
/// grant it and do not need it.
pub const KAFKA_RIGHT: &str = "KAFKA ON *.*";

/// The settings profile of the read-only user. `readonly = 2` refuses every write and DDL but lets a
/// client set per-query settings, which the Grafana ClickHouse plugin does on every query (with 1 it fails).
pub const READONLY_SETTING: u8 = 2;

/// The users `migrate` keeps, from the environment. A name without a password is refused at start.
#[derive(Debug, Clone, Default, Args)]
pub struct AccessConfig {
    /// User for dashboards (Grafana), the stats API and other readers: SELECT on CLICKHOUSE_DATABASE only,
    /// with `readonly = 2`. `migrate` creates it on current ClickHouse; on 18.16 define it in users.xml.
    #[arg(long, env = "CLICKHOUSE_READONLY_USER", global = true)]
    pub clickhouse_readonly_user: Option<String>,

    /// Password of CLICKHOUSE_READONLY_USER; only its SHA-256 reaches the server.
    #[arg(long, env = "CLICKHOUSE_READONLY_PASSWORD", hide_env_values = true, global = true)]
    pub clickhouse_readonly_password: Option<Secret>,

    /// User for the gateway itself (`serve`, `retention`, later `migrate` runs): see WRITER_GRANTS.
    #[arg(long, env = "CLICKHOUSE_WRITER_USER", global = true)]
    pub clickhouse_writer_user: Option<String>,

    /// Password of CLICKHOUSE_WRITER_USER; only its SHA-256 reaches the server.
    #[arg(long, env = "CLICKHOUSE_WRITER_PASSWORD", hide_env_values = true, global = true)]
    pub clickhouse_writer_password: Option<Secret>,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    ReadOnly,
    Writer,
}

/// One user to keep, with its password as the server will store it.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagedUser {
    pub role: Role,
    pub name: String,
    /// The password, for checking that the user can log in.
    password: Secret,
    sha256_hex: String,
}

impl std::fmt::Debug for ManagedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedUser").field("role", &self.role).field("name", &self.name).finish_non_exhaustive()
    }
}

impl ManagedUser {
    pub fn password(&self) -> &str {
        self.password.expose()
    }
}

impl AccessConfig {
    /// The configured users; the error names the variable to set.
    pub fn users(&self) -> Result<Vec<ManagedUser>, String> {
        let mut users = Vec::new();
        let pairs = [
            (Role::ReadOnly, "CLICKHOUSE_READONLY", &self.clickhouse_readonly_user, &self.clickhouse_readonly_password),
            (Role::Writer, "CLICKHOUSE_WRITER", &self.clickhouse_writer_user, &self.clickhouse_writer_password),
        ];
        for (role, prefix, user, password) in pairs {
            match (user.as_deref(), password) {
                (None, None) => {}
                (Some(name), Some(password)) if !password.expose().is_empty() => {
                    check_identifier(name).map_err(|why| format!("{prefix}_USER {why}"))?;
                    let sha256_hex = hex::encode(Sha256::digest(password.expose().as_bytes()));
                    users.push(ManagedUser { role, name: name.to_owned(), password: password.clone(), sha256_hex });
                }
                (Some(_), _) => {
                    return Err(format!(
                        "{prefix}_USER is set without a password: set {prefix}_PASSWORD (there is no default \
                         password), or unset {prefix}_USER"
                    ))
                }
                (None, Some(_)) => {
                    return Err(format!("{prefix}_PASSWORD is set without a user: set {prefix}_USER, or unset both"))
                }
            }
        }
        if let [first, second] = users.as_slice() {
            if first.name == second.name {
                return Err("CLICKHOUSE_READONLY_USER and CLICKHOUSE_WRITER_USER must be different users".to_owned());
            }
        }
        Ok(users)
    }
}

/// A name safe to place in DDL: a plain ClickHouse identifier.
pub fn check_identifier(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if first_ok && name.len() <= 64 && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(format!("{name:?} must be 1 to 64 characters of A-Z a-z 0-9 _, not starting with a digit"))
    }
}

/// The statements that create or update `user` on a current server, its password and rights included.
/// `CREATE USER IF NOT EXISTS` leaves an existing user alone, so `ALTER USER` follows it: a password changed
/// in the configuration takes effect at the next `migrate`. Rights are granted, never revoked: a right an
/// operator added by hand stays.
pub fn statements(user: &ManagedUser, database: &str, cluster: Option<&str>) -> Result<Vec<String>, String> {
    check_identifier(database).map_err(|why| format!("CLICKHOUSE_DATABASE {why}"))?;
    check_identifier(&user.name)?;
    let on_cluster = cluster.map(|c| format!(" ON CLUSTER {c}")).unwrap_or_default();
    let name = &user.name;
    let identified = format!("IDENTIFIED WITH sha256_hash BY '{}'", user.sha256_hex);
    Ok(match user.role {
        Role::ReadOnly => {
            let settings = format!("SETTINGS readonly = {READONLY_SETTING}");
            vec![
                format!("CREATE USER IF NOT EXISTS `{name}`{on_cluster} {identified} {settings}"),
                format!("ALTER USER `{name}`{on_cluster} {identified} {settings}"),
                format!("GRANT{on_cluster} SELECT ON `{database}`.* TO `{name}`"),
            ]
        }
        Role::Writer => {
            let mut all = vec![
                format!("CREATE USER IF NOT EXISTS `{name}`{on_cluster} {identified}"),
                format!("ALTER USER `{name}`{on_cluster} {identified}"),
                format!("GRANT{on_cluster} {WRITER_GRANTS} ON `{database}`.* TO `{name}`"),
                // Creating a Kafka-engine table needs the KAFKA source right, which exists only globally.
                format!("GRANT{on_cluster} {KAFKA_RIGHT} TO `{name}`"),
            ];
            if cluster.is_some() {
                all.push(format!("GRANT{on_cluster} CLUSTER ON *.* TO `{name}`"));
            }
            all
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(readonly: (Option<&str>, Option<&str>), writer: (Option<&str>, Option<&str>)) -> AccessConfig {
        AccessConfig {
            clickhouse_readonly_user: readonly.0.map(Into::into),
            clickhouse_readonly_password: readonly.1.map(Secret::new),
            clickhouse_writer_user: writer.0.map(Into::into),
            clickhouse_writer_password: writer.1.map(Secret::new),
        }
    }

    #[test]
    fn no_users_are_configured_by_default() {
        assert_eq!(AccessConfig::default().users(), Ok(Vec::new()));
    }

    #[test]
    fn a_user_without_a_password_is_refused_naming_what_to_set() {
        let error = config((Some("grafana"), None), (None, None)).users().expect_err("refused");
        assert!(error.contains("set CLICKHOUSE_READONLY_PASSWORD"), "{error}");
        let empty = config((None, None), (Some("gateway"), Some(""))).users().expect_err("refused");
        assert!(empty.contains("set CLICKHOUSE_WRITER_PASSWORD"), "{empty}");
        let orphan = config((None, Some("pw")), (None, None)).users().expect_err("refused");
        assert!(orphan.contains("set CLICKHOUSE_READONLY_USER"), "{orphan}");
        let same = config((Some("a"), Some("x")), (Some("a"), Some("y"))).users().expect_err("refused");
        assert!(same.contains("different"), "{same}");
    }

    #[test]
    fn names_that_could_leave_their_quotes_are_refused() {
        for bad in ["", "a`b", "x; DROP USER default", "1abc", "grafana ro", "ü"] {
            let error = config((Some(bad), Some("pw")), (None, None)).users().expect_err("refused");
            assert!(error.starts_with("CLICKHOUSE_READONLY_USER"), "{bad:?}: {error}");
        }
        let user = &config((Some("grafana"), Some("pw")), (None, None)).users().expect("valid")[0];
        assert!(statements(user, "path`light", None).expect_err("refused").contains("CLICKHOUSE_DATABASE"));
    }

    #[test]
    fn the_read_only_user_may_select_on_the_database_only_and_its_password_travels_as_a_hash() {
        let password = "it's a \"secret\"; DROP";
        let user = &config((Some("grafana"), Some(password)), (None, None)).users().expect("valid")[0];
        let hash = hex::encode(Sha256::digest(password.as_bytes()));
        assert_eq!(
            statements(user, "pathlight", None).expect("valid"),
            [
                format!(
                    "CREATE USER IF NOT EXISTS `grafana` IDENTIFIED WITH sha256_hash BY '{hash}' SETTINGS readonly = 2"
                ),
                format!("ALTER USER `grafana` IDENTIFIED WITH sha256_hash BY '{hash}' SETTINGS readonly = 2"),
                "GRANT SELECT ON `pathlight`.* TO `grafana`".to_owned(),
            ]
        );
        assert!(!format!("{user:?}").contains("secret"), "Debug hides the password");
    }

    #[test]
    fn the_writer_gets_the_rights_of_migrate_and_the_gateway_and_cluster_ddl_on_a_cluster() {
        let user = &config((None, None), (Some("gateway"), Some("pw"))).users().expect("valid")[0];
        let single = statements(user, "pathlight", None).expect("valid");
        assert_eq!(single[2], format!("GRANT {WRITER_GRANTS} ON `pathlight`.* TO `gateway`"));
        assert_eq!(single[3], "GRANT KAFKA ON *.* TO `gateway`");
        assert_eq!(single.len(), 4);
        let clustered = statements(user, "pathlight", Some("main")).expect("valid");
        assert!(clustered[0].starts_with("CREATE USER IF NOT EXISTS `gateway` ON CLUSTER main IDENTIFIED"));
        assert_eq!(clustered[4], "GRANT ON CLUSTER main CLUSTER ON *.* TO `gateway`");
    }
}
