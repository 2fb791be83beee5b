"""The current-ClickHouse form of sql/ on chDB 26.9: what `ingest-gateway migrate` sends to a server of 21.8 or
later (LowCardinality columns, the events' TTL, Kafka tables that stream parse errors to a dead-letter table), and
the cluster form's statements through ClickHouse's own parser.

Every statement comes from `ingest-gateway migrate --print --server-version 26.9`, the generated ones (`before`,
`after`) included, so these tests run what `migrate` runs. The same seeded events and chunks as test_chdb_stats.py
and test_chdb_recordings.py go into tables of this form and into tables of the 18.16 form, and every number of
every stats and replay query must be the same, and the exact ones those modules assert.

chDB has no cluster (no `remote_servers`, no Keeper), so the cluster form is checked by parsing each statement
(`formatQuerySingleLine`) and, byte for byte, by the golden files (sql/golden/cluster/, a Rust test).

Run: python3 -m pytest tests/sql
"""

import base64
import json
import os
import re
import subprocess
import sys
import time

import pytest

from test_chdb import (GATEWAY, ROOT, SQL_DIR, VARS, Warehouse, as_migrate_creates, migrations_as_the_gateway_sends_them,
                       rollups_as_the_gateway_sends_them,
                       stored_event_columns)
import test_chdb_recordings as recordings
import test_chdb_stats as stats

RECORDING_COLUMNS = json.loads(recordings.COLUMNS.read_text())
GOLDEN = SQL_DIR / "golden" / "cluster"
FOREVER = 36_500  # days: no seeded event (2026-01) expires while the tests run


def print_migrations(*extra):
    """`ingest-gateway migrate --print` with the tests' Kafka settings and `extra` flags, in a clean environment."""
    migrations_as_the_gateway_sends_them()  # builds the binary
    flags = ["--sql-dir", str(SQL_DIR), "--kafka-brokers", VARS["KAFKA_BROKERS"],
             "--page-visits-topic", VARS["PAGE_VISITS_TOPIC"], "--clickhouse-kafka-group", VARS["CONSUMER_GROUP"],
             "--session-recordings-topic", VARS["SESSION_RECORDINGS_TOPIC"]]
    done = subprocess.run([str(GATEWAY), "migrate", "--print", *flags, *extra], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, f"migrate --print failed:\n{done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def statements(migration):
    return [*migration.get("before", []), migration["statement"], *migration.get("after", [])]


class ModernWarehouse(Warehouse):
    """A database of its own on chDB's one embedded server (opened by whichever module came first)."""

    def __init__(self, path, database):
        self.database = database
        try:
            super().__init__(path)
        except Exception as err:  # noqa: BLE001 - chDB raises plain exceptions
            opened = re.search(r"already initialized with path '([^']+)'", str(err))
            if not opened:
                raise
            super().__init__(opened.group(1))
        self.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.query(f"USE {database}")

    def kafka_tables(self):
        return set(self.query(f"SELECT name FROM system.tables WHERE database = '{self.database}' "
                              "AND engine = 'Kafka'").split())

    def apply_all(self, migrations):
        for migration in migrations:
            for statement in statements(migration):
                self.apply({"statement": statement})

    def columns(self, table):
        listed = self.query(f"SELECT name, type FROM system.columns WHERE database = '{self.database}' "
                            f"AND table = '{table}' ORDER BY position")
        return [line.split("\t") for line in listed.splitlines()]

    def engine(self, table):
        return self.query(f"SELECT engine_full FROM system.tables WHERE database = '{self.database}' AND name = '{table}'")


def without_low_cardinality(columns):
    return [[name, re.sub(r"^LowCardinality\((.*)\)$", r"\1", ty)] for name, ty in columns]


def seed(wh):
    wh.insert(stats.ROWS)
    for rows in (recordings.CHUNKS, [recordings.REDELIVERED]):
        body = "\n".join(json.dumps(row) for row in rows)
        wh.query(f"INSERT INTO recording_chunks FORMAT JSONEachRow {body}")
    numbers = stats.every_number(wh)
    wh.insert(stats.REDELIVERED)
    return numbers


@pytest.fixture(scope="module")
def modern_migrations():
    return print_migrations("--server-version", "26.9", "--events-retention-days", str(FOREVER))


@pytest.fixture(scope="module")
def pair(modern_migrations, tmp_path_factory):
    """The same seeds in a database of the current form (applied twice: every statement is idempotent) and in one
    of the 18.16 form, with the stats numbers each gave before the redelivery."""
    path = tmp_path_factory.mktemp("chdb-modern")
    modern = ModernWarehouse(path, "pathlight_modern")
    modern.apply_all(modern_migrations)
    modern.apply_all(modern_migrations)
    modern.apply_all(rollups_as_the_gateway_sends_them("--server-version", "26.9"))
    legacy = ModernWarehouse(path, "pathlight_modern_reference")
    legacy.apply_all(as_migrate_creates())
    yield modern, seed(modern), legacy, seed(legacy)
    # chDB serves one path per process: close, so that a failure kept in a traceback does not hold it open.
    modern.session.close()
    legacy.session.close()


def test_the_default_print_is_the_18_16_form_exactly_as_the_files_are_written():
    for migration in migrations_as_the_gateway_sends_them():
        assert "before" not in migration and "after" not in migration, migration["file"]
        text = (SQL_DIR / migration["file"]).read_text()
        for name, value in VARS.items():
            text = text.replace("${" + name + "}", value)
        assert migration["statement"] == text, migration["file"]


def test_every_table_and_view_of_the_current_form_exists_with_the_dead_letter_path(pair):
    modern, _, legacy, _ = pair
    tables = modern.query("SELECT name, engine FROM system.tables WHERE database = 'pathlight_modern' ORDER BY name")
    reference = legacy.query("SELECT name, engine FROM system.tables WHERE database = 'pathlight_modern_reference' "
                             "ORDER BY name")
    extra = sorted(set(tables.splitlines()) - set(reference.splitlines()))
    assert extra == ["kafka_dead_letters\tMergeTree", "page_visits_queue_dead_letters_mv\tMaterializedView",
                     "recording_chunks_queue_dead_letters_mv\tMaterializedView"], extra
    assert set(reference.splitlines()) <= set(tables.splitlines())


@pytest.mark.parametrize("table, contract", [("page_visits", stored_event_columns()),
                                             ("page_visits_queue", stored_event_columns()),
                                             ("recording_chunks", RECORDING_COLUMNS),
                                             ("recording_chunks_queue", RECORDING_COLUMNS)])
def test_the_tables_have_the_contract_columns_with_low_cardinality_compared_as_its_type(pair, table, contract):
    modern, *_ = pair
    columns = modern.columns(table)
    assert without_low_cardinality(columns) == contract
    types = dict(columns)
    assert types["country"] == "LowCardinality(String)", types
    assert types["site"] == "String", "a site has many values: not LowCardinality"


def test_the_rollups_of_the_current_form_store_low_cardinality_dimensions(pair):
    modern, *_ = pair
    types = dict(modern.columns("stats_hourly"))
    assert types["browser"] == "LowCardinality(String)" and types["pathname"] == "String", types


def test_the_queues_stream_parse_errors_and_the_ingest_views_skip_them(pair):
    modern, *_ = pair
    for queue in ("page_visits_queue", "recording_chunks_queue"):
        assert "kafka_handle_error_mode = 'stream'" in modern.engine(queue), modern.engine(queue)
    views = modern.query("SELECT name FROM system.tables WHERE database = 'pathlight_modern' "
                         "AND engine = 'MaterializedView' AND create_table_query LIKE '%\\_queue %' ORDER BY name")
    for view in views.split():
        query = modern.query(f"SELECT create_table_query FROM system.tables WHERE database = 'pathlight_modern' "
                             f"AND name = '{view}'")
        assert "_error" in query, (view, query)


def test_every_stats_number_is_the_18_16_forms_and_exact(pair):
    modern, modern_before, _, legacy_before = pair
    assert modern_before == legacy_before
    assert stats.every_number(modern) == modern_before, "a redelivered event changes no number"
    assert stats.counts(modern) == [(stats.FROM, 2, 4, 1)]
    assert stats.visits(modern) == [(stats.FROM, 3, 2, 130_000)]
    assert stats.breakdown(modern, "country") == [("DE", 1, 3, 1, 1), ("FR", 1, 1, 0, 0)]


def test_the_replay_list_is_the_18_16_forms_and_exact(pair):
    modern, _, legacy, _ = pair
    window = {"site": recordings.SITE, "from_ms": recordings.JAN_1, "to_ms": recordings.JAN_1 + recordings.DAY_MS}
    got = recordings.listed(modern, **window)
    assert got == recordings.listed(legacy, **window)
    assert got == [recordings.EXPECTED[recordings.NO_FINAL], recordings.EXPECTED[recordings.GAPS],
                   recordings.EXPECTED[recordings.COMPLETE]]


def test_events_older_than_the_retention_are_deleted_by_the_ttl(tmp_path_factory):
    migrations = print_migrations("--server-version", "26.9", "--events-retention-days", "30")
    wh = ModernWarehouse(tmp_path_factory.mktemp("chdb-ttl"), "pathlight_ttl")
    wh.apply_all(migrations[:1])
    assert "TTL timestamp + toIntervalDay(30)" in wh.engine("page_visits"), wh.engine("page_visits")
    now = int(time.time())
    wh.insert([stats.ev("old", "S", "v", now - 40 * 86_400, "/"), stats.ev("new", "S", "v", now - 86_400, "/")])
    wh.query("OPTIMIZE TABLE page_visits FINAL")
    kept = wh.query("SELECT groupArray(event_id) FROM page_visits")
    wh.session.close()
    assert kept == "['new']"


def test_without_a_retention_the_events_have_no_ttl(modern_migrations):
    assert "TTL" not in print_migrations("--server-version", "26.9")[0]["statement"]


def parses(wh, statement):
    encoded = base64.b64encode(statement.encode()).decode()
    return wh.query("SELECT formatQuerySingleLine(base64Decode({statement:String}))", params={"statement": encoded})


def test_every_statement_of_the_cluster_form_parses_and_is_the_golden_files(pair):
    modern, *_ = pair
    migrations = print_migrations("--server-version", "24.8", "--clickhouse-cluster", "pathlight",
                                  "--clickhouse-database", "pathlight", "--events-retention-days", "90")
    for migration in migrations:
        for statement in statements(migration):
            assert parses(modern, statement), (migration["file"], statement)
        golden = (GOLDEN / migration["file"]).read_text()
        assert migration["statement"].strip() in golden, migration["file"]
        assert "ON CLUSTER pathlight" in migration["statement"], migration["file"]
    access = [s for s in (GOLDEN / "access.sql").read_text().split(";\n") if s.strip()]
    assert len(access) >= 6
    for statement in access:
        assert parses(modern, statement), statement


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
