#!/usr/bin/env python3
"""Proves that sql/ is valid on modern ClickHouse, using chDB (ClickHouse 26.9 in-process).

The real server of the local stack is ClickHouse 18.16 (the Rust tests in ingest-gateway/tests/warehouse.rs
run there); this script applies the same migrations and the named query on a current engine, so the DDL
stays portable. chDB cannot start a Kafka consumer: creating `page_visits_queue` records the table and then
fails its start-up with "Shutdown was called", so that one error is accepted after checking the table was
recorded as a Kafka table with our settings. Rows are inserted into `page_visits` directly.

Run: python3 tests/sql/test_chdb.py   (prints "N passed, M failed"; exit status 1 on any failure)
"""

import json
import re
import sys
import tempfile
import traceback
from pathlib import Path

import chdb.session

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "sql"
STORED_RS = ROOT / "event-schema" / "src" / "stored.rs"
VARS = {"KAFKA_BROKERS": "127.0.0.1:19092", "PAGE_VISITS_TOPIC": "page_visits", "CONSUMER_GROUP": "clickhouse-page-visits"}
SAFE_VALUE = re.compile(r"[A-Za-z0-9._:,-]+")
RUST_TO_CLICKHOUSE = {"String": "String", "u8": "UInt8", "u16": "UInt16", "u32": "UInt32", "u64": "UInt64"}


def substitute(text):
    """Same rules as the gateway's migration runner: known names only, values from a strict charset."""
    def value(match):
        name = match.group(1)
        assert name in VARS, f"unknown placeholder ${{{name}}}"
        assert SAFE_VALUE.fullmatch(VARS[name]), f"unsafe value for {name}"
        return VARS[name]
    return re.sub(r"\$\{([A-Za-z0-9_]*)\}", value, text)


def split_statements(text):
    """Splits on `;` outside quotes and comments, dropping statements that are only comments."""
    statements, current, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            current.append(" ")
            continue
        if c in "'\"`":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            current.append(text[i:j + 1])
            i = j + 1
            continue
        if c == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(c)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def migrations():
    files = sorted(SQL_DIR.glob("[0-9]*_*.sql"), key=lambda p: int(p.name.split("_", 1)[0]))
    assert files, f"no migrations in {SQL_DIR}"
    return files


def stored_event_fields():
    """(name, ClickHouse type) of every StoredEvent field, read from the Rust source: the contract."""
    body = STORED_RS.read_text().split("pub struct StoredEvent", 1)[1].split("\n}", 1)[0]
    fields = re.findall(r"pub (\w+): (\w+),", body)
    return [(name, "DateTime('UTC')" if name == "timestamp" else RUST_TO_CLICKHOUSE[ty]) for name, ty in fields]


def bind(query, *values):
    """Client-side `?` binding, as the clickhouse crate does it."""
    parts = query.split("?")
    assert len(parts) == len(values) + 1, "placeholder count"
    literal = lambda v: str(v) if isinstance(v, int) else "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return parts[0] + "".join(literal(v) + p for v, p in zip(values, parts[1:]))


FROM, TO = 1_767_225_600, 1_767_312_000  # 2026-01-01T00:00:00Z .. 2026-01-02T00:00:00Z
EMPTY_ROW = {name: (0 if ty.startswith(("UInt", "DateTime")) else "") for name, ty in stored_event_fields()}


def event(event_id, country, visitor, ts=FROM + 3600, kind="pageview", site="a.example"):
    return {**EMPTY_ROW, "event_id": event_id, "schema_version": 1, "kind": kind, "site": site,
            "visitor_id": visitor, "timestamp": ts, "timestamp_ms": ts * 1000, "country": country, "props": "{}"}


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
]
DUPLICATE = ROWS[0]  # delivered twice, in a separate insert, so it lands in its own part
EXPECTED = [("US", 3, 2), ("BR", 2, 1), ("DE", 2, 2)]


class Warehouse:
    def __init__(self, path):
        self.session = chdb.session.Session(path)
        self.query("CREATE DATABASE IF NOT EXISTS pathlight")
        self.query("USE pathlight")

    def query(self, sql):
        return str(self.session.query(sql, "TSVRaw")).strip()

    def apply(self, path):
        for statement in split_statements(substitute(path.read_text())):
            try:
                self.query(statement)
            except Exception as err:  # noqa: BLE001 - chDB raises plain exceptions
                if "ENGINE = Kafka" not in statement or "Shutdown was called" not in str(err):
                    raise
                table = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", statement).group(1)
                engine = self.query(f"SELECT engine_full FROM system.tables WHERE database = 'pathlight' AND name = '{table}'")
                assert engine.startswith("Kafka"), f"{table} was not recorded as a Kafka table: {engine!r}"

    def insert(self, rows):
        body = "\n".join(json.dumps(r) for r in rows)
        self.query(f"INSERT INTO page_visits FORMAT JSONEachRow {body}")


def test_every_migration_applies_and_applies_again(wh):
    for _ in range(2):
        for path in migrations():
            wh.apply(path)
    tables = wh.query("SELECT name, engine FROM system.tables WHERE database = 'pathlight' ORDER BY name").splitlines()
    assert tables == ["page_visits\tReplacingMergeTree", "page_visits_mv\tMaterializedView", "page_visits_queue\tKafka"], tables


def test_the_queue_table_carries_the_substituted_kafka_settings(wh):
    engine = wh.query("SELECT engine_full FROM system.tables WHERE database = 'pathlight' AND name = 'page_visits_queue'")
    for setting, value in [("kafka_broker_list", VARS["KAFKA_BROKERS"]), ("kafka_topic_list", VARS["PAGE_VISITS_TOPIC"]),
                           ("kafka_group_name", VARS["CONSUMER_GROUP"]), ("kafka_format", "JSONEachRow")]:
        assert f"{setting} = '{value}'" in engine, (setting, engine)


def test_page_visits_and_the_queue_have_exactly_the_stored_event_columns(wh):
    expected = [f"{name}\t{ty}" for name, ty in stored_event_fields()]
    for table in ["page_visits", "page_visits_queue"]:
        columns = wh.query(f"SELECT name, type FROM system.columns WHERE database = 'pathlight' AND table = '{table}' ORDER BY position")
        assert columns.splitlines() == expected, (table, columns)


def test_visits_by_country_counts_page_views_once_per_event(wh):
    wh.insert(ROWS)
    wh.insert([DUPLICATE])
    stored = int(wh.query("SELECT count() FROM page_visits WHERE event_id = 'e1'"))
    assert stored == 2, f"the duplicate should still be stored twice before a merge, got {stored}"
    query = (SQL_DIR / "queries" / "visits_by_country.sql").read_text()
    result = wh.query(bind(query, "a.example", FROM, TO))
    rows = [(c, int(v), int(u)) for c, v, u in (line.split("\t") for line in result.splitlines())]
    assert rows == EXPECTED, rows


def test_a_site_with_no_page_views_gets_no_rows(wh):
    query = (SQL_DIR / "queries" / "visits_by_country.sql").read_text()
    assert wh.query(bind(query, "nobody's.example", FROM, TO)) == ""


def main():
    tests = [v for k, v in globals().items() if k.startswith("test_")]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(tmp)
        for test in tests:
            try:
                test(wh)
                passed += 1
                print(f"ok   {test.__name__}")
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"FAIL {test.__name__}")
                traceback.print_exc(file=sys.stdout)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
