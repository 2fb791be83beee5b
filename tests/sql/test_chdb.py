"""sql/ on modern ClickHouse, using chDB (ClickHouse 26.9 in-process).

The real server of the local stack is ClickHouse 18.16 (the Rust tests in ingest-gateway/tests/warehouse.rs
run there); these tests apply the same migrations and the named query on a current engine, so the DDL stays
portable. Nothing here reads SQL by itself: the statements come from `ingest-gateway migrate --print`, the
gateway's own reading and substitution of sql/, and the expected columns from
event-schema/contracts/page_visits.columns.json, generated from the Rust `StoredEvent`. The query files are
templates of the analytics model (analytics-model/): the gateway fills them (`ingest-gateway bind-sql`), and the
model itself is read from its generated contract, analytics-model/contracts/dimensions.json.

chDB cannot start a Kafka consumer: creating `page_visits_queue` records the table and then fails its start-up
with "Shutdown was called", so that one error is accepted once the table is seen recorded as a Kafka table.
Rows are inserted into `page_visits` directly.

Run: python3 -m pytest tests/sql
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import chdb.session
import pytest

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "sql"
GATEWAY = ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "debug" / "ingest-gateway"
COLUMNS = ROOT / "event-schema" / "contracts" / "page_visits.columns.json"
MODEL = ROOT / "analytics-model" / "contracts" / "dimensions.json"
VARS = {"KAFKA_BROKERS": "127.0.0.1:19092", "PAGE_VISITS_TOPIC": "page_visits",
        "SESSION_RECORDINGS_TOPIC": "session_recordings", "CONSUMER_GROUP": "clickhouse-page-visits"}
DATABASE = "pathlight"


def stored_event_columns():
    """[name, ClickHouse type] of every StoredEvent field, in order: the contract generated from the Rust type."""
    columns = json.loads(COLUMNS.read_text())
    assert columns and all(len(column) == 2 for column in columns), f"{COLUMNS} is not a list of [name, type]"
    return columns


def analytics_model():
    """The reporting model as data (dimensions, metrics, the SQL fragments of the templates), generated from the
    Rust registry in analytics-model/src/lib.rs."""
    model = json.loads(MODEL.read_text())
    assert model["dimensions"] and model["metrics"] and model["fragments"], f"{MODEL} is not the model's contract"
    return model


def migrations_as_the_gateway_sends_them():
    """`ingest-gateway migrate --print`: every migration with its placeholders filled, connecting nowhere.

    Cargo rebuilds the binary only when its sources changed, so the statements are the current code's.
    """
    subprocess.run(["cargo", "build", "--quiet", "-p", "ingest-gateway"], cwd=ROOT, check=True)
    flags = ["--sql-dir", str(SQL_DIR), "--kafka-brokers", VARS["KAFKA_BROKERS"],
             "--page-visits-topic", VARS["PAGE_VISITS_TOPIC"], "--clickhouse-kafka-group", VARS["CONSUMER_GROUP"],
             "--session-recordings-topic", VARS["SESSION_RECORDINGS_TOPIC"]]
    # A clean environment: the gateway's settings come from the flags, not from whatever stack is configured.
    done = subprocess.run([str(GATEWAY), "migrate", "--print", *flags], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, f"migrate --print failed:\n{done.stdout}{done.stderr}"
    migrations = json.loads(done.stdout)
    assert migrations, f"no migrations in {SQL_DIR}"
    return migrations


def rollups_as_the_gateway_sends_them(*extra):
    """`ingest-gateway migrate --print --rollups`: what `migrate` runs after the files on a new database to give
    the rollups the analytics model's dimensions that the files lack (none while the model has only theirs)."""
    subprocess.run(["cargo", "build", "--quiet", "-p", "ingest-gateway"], cwd=ROOT, check=True)
    flags = ["--sql-dir", str(SQL_DIR), "--kafka-brokers", VARS["KAFKA_BROKERS"],
             "--page-visits-topic", VARS["PAGE_VISITS_TOPIC"], "--clickhouse-kafka-group", VARS["CONSUMER_GROUP"],
             "--session-recordings-topic", VARS["SESSION_RECORDINGS_TOPIC"]]
    done = subprocess.run([str(GATEWAY), "migrate", "--print", "--rollups", *flags, *extra], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, f"migrate --print --rollups failed:\n{done.stdout}{done.stderr}"
    return [{"statement": statement} for statement in json.loads(done.stdout)]


def as_migrate_creates(*extra):
    """Every migration file, then the rollups' statements: a new database as `migrate` leaves it."""
    return migrations_as_the_gateway_sends_them() + rollups_as_the_gateway_sends_them(*extra)


FROM, TO = 1_767_225_600, 1_767_312_000  # 2026-01-01T00:00:00Z .. 2026-01-02T00:00:00Z
# "Not collected" in every column (ClickHouse columns are not Nullable), derived from the column types.
EMPTY_ROW = {name: (0 if ty.startswith(("UInt", "Int", "DateTime")) else "") for name, ty in stored_event_columns()}


def event(event_id, country, visitor, ts=FROM + 3600, kind="pageview", site="a.example"):
    """An event of the visitor's one visit (session `s-<visitor>`), as in ingest-gateway/tests/warehouse.rs."""
    return {**EMPTY_ROW, "event_id": event_id, "schema_version": 1, "kind": kind, "site": site,
            "session_id": f"s-{visitor}", "visitor_id": visitor, "timestamp": ts, "timestamp_ms": ts * 1000,
            "country": country, "props": "{}"}


ROWS = [
    event("e1", "US", "v1"),
    event("e2", "US", "v1"),
    event("e3", "US", "v2"),
    event("e4", "DE", "v3"),
    event("e5", "DE", "v3", kind="event"),          # not a page view
    event("e6", "FR", "v4", ts=TO),                  # the end of the range is exclusive
    event("e7", "GB", "v9", site="b.example"),       # another site
    event("e8", "DE", "v5", ts=FROM),                # the start is inclusive
    event("e9", "BR", "v6"),
    event("e10", "BR", "v6"),
    # v7's visit began the day before the range: its page view in the range counts, the visit does not.
    event("e11", "NL", "v7", ts=FROM - 600),
    event("e12", "NL", "v7", ts=FROM + 600),
    # v8's visit began in Canada and went on in Mexico: it counts where it began.
    event("e13", "CA", "v8", ts=FROM + 7200),
    event("e14", "MX", "v8", ts=FROM + 7260),
    # v10's visit began with two page views at the same instant: its first event is the smaller event id, e15,
    # listed (and inserted) second.
    event("e16", "ES", "v10", ts=FROM + 10_800),
    event("e15", "IT", "v10", ts=FROM + 10_800),
    # v11 sent a custom event only: no visit, no page view, so no row for JP.
    event("e17", "JP", "v11", kind="event"),
    # v12's visit began in the range and went on past its end: the visit counts, the later page view does not.
    event("e18", "PT", "v12", ts=TO - 60),
    event("e19", "PT", "v12", ts=TO + 60),
]
DUPLICATE = ROWS[0]  # delivered twice, in a separate insert, so it lands in its own part
# (country, visits, page views, visitors) of a.example over [FROM, TO), from the rows above:
# - US: visits s-v1 and s-v2 begin there in the range (2); page views e1 (once, though delivered twice), e2, e3
#   (3); visitors v1, v2 (2).
# - DE: visits s-v3 (first event e4, at the same instant as its custom event e5, which is DE too) and s-v5 (e8,
#   at FROM, which is in the range) (2); page views e4, e8, not the custom event e5 (2); visitors v3, v5 (2).
# - BR: one visit s-v6 (1) of two page views e9, e10 (2) by one visitor v6 (1).
# - CA, IT, PT: the visits s-v8 (first e13), s-v10 (first e15 by event id) and s-v12 (e18, a minute before TO)
#   begin there (1 each); one page view (e13, e15, e18: e19 is after TO) by one visitor each.
# - ES, MX, NL: no visit begins there in the range (s-v10 and s-v8 begin elsewhere, s-v7 the day before), but
#   each has one page view in it (e16, e14, e12) by one visitor.
# - No row for FR (e6 and its visit are at TO, outside), GB (another site), JP (a custom event, no visit).
# Most visits first, then most page views, then by country.
EXPECTED = [("US", 2, 3, 2), ("DE", 2, 2, 2), ("BR", 1, 2, 1), ("CA", 1, 1, 1), ("IT", 1, 1, 1), ("PT", 1, 1, 1),
            ("ES", 0, 1, 1), ("MX", 0, 1, 1), ("NL", 0, 1, 1)]


class Warehouse:
    def __init__(self, path):
        self.session = chdb.session.Session(str(path))
        self.query(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        self.query(f"USE {DATABASE}")

    def query(self, sql, params=None):
        return str(self.session.query(sql, "TSVRaw", params=params)).strip()

    def kafka_tables(self):
        return set(self.query(f"SELECT name FROM system.tables WHERE database = '{DATABASE}' AND engine = 'Kafka'").split())

    def apply(self, migration, replay=False):
        before = self.kafka_tables()
        try:
            self.query(migration["statement"])
        except Exception as err:  # noqa: BLE001 - chDB raises plain exceptions
            if replay and "(DUPLICATE_COLUMN)" in str(err):
                return  # ADD COLUMN cannot be idempotent on 18.16; sql/README.md says how a replay is resolved
            created = self.kafka_tables() - before
            if "Shutdown was called" not in str(err) or len(created) != 1:
                raise
            # What chDB cannot do is consume; the table itself was created as written.

    def insert(self, rows):
        body = "\n".join(json.dumps(r) for r in rows)
        self.query(f"INSERT INTO page_visits FORMAT JSONEachRow {body}")

    def columns(self, table):
        listed = self.query(f"SELECT name, type FROM system.columns WHERE database = '{DATABASE}' AND table = '{table}' "
                            "ORDER BY position")
        return [line.split("\t") for line in listed.splitlines()]


@pytest.fixture(scope="module")
def migrations():
    return migrations_as_the_gateway_sends_them()


@pytest.fixture(scope="module")
def applied():
    return as_migrate_creates()


@pytest.fixture(scope="module")
def wh(applied, tmp_path_factory):
    """A warehouse with every migration applied, then replayed from the first, as `migrate` would replay a file
    whose statement ran but was not recorded: every statement must be idempotent but `ADD COLUMN`."""
    wh = Warehouse(tmp_path_factory.mktemp("chdb"))
    for replay in (False, True):
        for migration in applied:
            wh.apply(migration, replay)
    yield wh
    # chDB serves one path per process: close, so that a failure kept in a traceback does not hold this path open
    # and keep the next module (test_chdb_recordings.py opens a path of its own) from starting.
    wh.session.close()


def bind(query, *values, filters=None):
    """`query` (a query file's text, a template of the analytics model) rendered and bound by the gateway itself
    (`ingest-gateway bind-sql`), so these tests carry no template renderer or SQL binder of their own.

    `values` are the template's own `?`s, in order (each file's "Bound in order" comment lists them); `filters`
    maps API names (`country`, `page`, `source`, ...) to values: the gateway writes one condition per filter
    at the template's filter marker and binds its value there.
    """
    flags = [f"--filter={name}={value}" for name, value in (filters or {}).items()]
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(query)
        file.flush()
        done = subprocess.run([str(GATEWAY), "bind-sql", file.name, *flags, *(json.dumps(v) for v in values)],
                              cwd=ROOT, capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, f"bind-sql failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def visits_by_country(wh, site):
    query = (SQL_DIR / "queries" / "visits_by_country.sql").read_text()
    # Bound in order: site, from, to (page views and visitors), site, from (the visit subquery), from_ms, to_ms.
    return wh.query(bind(query, site, FROM, TO, site, FROM, site, FROM, FROM * 1000, TO * 1000))


def test_each_migration_file_is_exactly_one_statement(migrations, wh):
    # ClickHouse's own parser decides; the 18.16 server refuses a multi-statement request the same way.
    for migration in migrations:
        encoded = base64.b64encode(migration["statement"].encode()).decode()
        formatted = wh.query("SELECT formatQuerySingleLine(base64Decode({statement:String}))",
                             params={"statement": encoded})
        assert formatted, migration["file"]


def test_migrations_are_numbered_in_order_with_their_placeholders_filled(migrations):
    versions = [m["version"] for m in migrations]
    assert versions == sorted(set(versions)), versions
    for migration in migrations:
        assert migration["file"].startswith(f"{migration['version']:03d}_"), migration["file"]
        assert "${" not in migration["statement"], migration["file"]


def test_every_migration_applies_and_applies_again(wh):
    # A rollup view created again for a dimension the files lack carries a hash suffix (see rollups.rs).
    tables = wh.query(f"SELECT replaceRegexpOne(name, '^(stats_[a-z_]+_mv)_[0-9a-f]{{8}}$', '\\\\1') AS plain, engine "
                      f"FROM system.tables WHERE database = '{DATABASE}' ORDER BY plain").splitlines()
    assert tables == ["page_visits\tReplacingMergeTree", "page_visits_mv\tMaterializedView", "page_visits_queue\tKafka",
                      "recording_chunks\tReplacingMergeTree", "recording_chunks_mv\tMaterializedView",
                      "recording_chunks_queue\tKafka", "recording_sessions\tAggregatingMergeTree",
                      "recording_sessions_mv\tMaterializedView", "recording_sessions_queue_mv\tMaterializedView",
                      "stats_arrivals\tAggregatingMergeTree", "stats_arrivals_mv\tMaterializedView",
                      "stats_arrivals_queue_mv\tMaterializedView",
                      "stats_daily_events\tReplacingMergeTree", "stats_daily_runs\tReplacingMergeTree",
                      "stats_daily_visits\tReplacingMergeTree",
                      "stats_hourly\tAggregatingMergeTree", "stats_hourly_mv\tMaterializedView",
                      "stats_hourly_queue_mv\tMaterializedView", "stats_sessions\tAggregatingMergeTree",
                      "stats_sessions_mv\tMaterializedView", "stats_sessions_queue_mv\tMaterializedView",
                      "stats_visit_rows\tMergeTree"], tables


def test_the_queue_table_carries_the_substituted_kafka_settings(wh):
    engine = wh.query(f"SELECT engine_full FROM system.tables WHERE database = '{DATABASE}' AND name = 'page_visits_queue'")
    assert engine.startswith("Kafka"), engine
    for setting, value in [("kafka_broker_list", VARS["KAFKA_BROKERS"]), ("kafka_topic_list", VARS["PAGE_VISITS_TOPIC"]),
                           ("kafka_group_name", VARS["CONSUMER_GROUP"]), ("kafka_format", "JSONEachRow")]:
        assert f"{setting} = '{value}'" in engine, (setting, engine)


@pytest.mark.parametrize("table", ["page_visits", "page_visits_queue"])
def test_the_table_has_exactly_the_stored_event_columns(wh, table):
    assert wh.columns(table) == stored_event_columns()


def test_visits_by_country_counts_each_visit_and_page_view_once(wh):
    wh.insert(ROWS)
    wh.insert([DUPLICATE])
    stored = int(wh.query("SELECT count() FROM page_visits WHERE event_id = 'e1'"))
    assert stored == 2, f"the duplicate should still be stored twice before a merge, got {stored}"
    result = visits_by_country(wh, "a.example")
    rows = [(c, int(v), int(p), int(u)) for c, v, p, u in (line.split("\t") for line in result.splitlines())]
    assert rows == EXPECTED, rows


def test_a_site_with_no_page_views_gets_no_rows(wh):
    assert visits_by_country(wh, "nobody's.example") == ""


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
