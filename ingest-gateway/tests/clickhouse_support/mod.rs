//! A fresh ClickHouse database per test, on the real server of the local stack.
//!
//! The server is not started here: `scripts/stack.sh up` runs it, and `CLICKHOUSE_URL` points elsewhere
//! (default `http://127.0.0.1:18123`, the stack's port). A test fails at once, saying so, when the server
//! is not reachable, rather than timing out somewhere deeper.

use std::time::Duration;

use ingest_gateway::warehouse::{self, SqlVars};

const DEFAULT_URL: &str = "http://127.0.0.1:18123";
const DEFAULT_BROKERS: &str = "127.0.0.1:19092";

pub struct TestDatabase {
    pub name: String,
    /// A client whose default database is `name`; the database exists once `migrate` ran.
    pub client: clickhouse::Client,
}

impl TestDatabase {
    pub async fn new() -> Self {
        let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let name = format!("pathlight_test_{}", uuid::Uuid::new_v4().simple());
        let client = warehouse::client(&url, &name, "default", "");
        let probe = client.clone().with_database("system");
        match tokio::time::timeout(Duration::from_secs(10), probe.query("SELECT 1").fetch_one::<u8>()).await {
            Ok(Ok(1)) => {}
            outcome => panic!(
                "ClickHouse is not reachable at {url} ({outcome:?}): start it with `scripts/stack.sh up`, \
                 or set CLICKHOUSE_URL to a running server"
            ),
        }
        Self { name, client }
    }

    /// Kafka settings private to this database: its own topic and consumer group, so that test queue
    /// tables never join the stack's group and take its partitions.
    pub fn sql_vars(&self) -> SqlVars {
        SqlVars {
            kafka_brokers: std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| DEFAULT_BROKERS.to_owned()),
            page_visits_topic: self.name.clone(),
            session_recordings_topic: format!("{}_recordings", self.name),
            consumer_group: self.name.clone(),
        }
    }

    /// Ends the test's use of its database without dropping it: ClickHouse 18.16 on librdkafka 2.12.1 aborts
    /// (`rd_kafka_cgrp_destroy_final`: `!rkcg->rkcg_subscription`) when a Kafka table whose consumers have
    /// joined their group is destroyed, and with the stack's low-latency Kafka settings they join within a
    /// second. So the database's materialized views are dropped (nothing streams from its topics any more)
    /// and the database itself stays until the stack is purged; every suite run starts from a purged stack.
    /// Called at the end of a passing test; a failing test leaves its views too, for inspection.
    pub async fn drop(self) {
        let system = self.client.clone().with_database("system");
        let views = system
            .query("SELECT name FROM system.tables WHERE database = ? AND engine = 'MaterializedView'")
            .bind(&self.name)
            .fetch_all::<String>()
            .await
            .expect("lists the test database's views");
        for view in views {
            system
                .query("DROP TABLE IF EXISTS ?.?")
                .bind(clickhouse::sql::Identifier(&self.name))
                .bind(clickhouse::sql::Identifier(&view))
                .execute()
                .await
                .expect("drops a view of the test database");
        }
    }
}
