"""Analytics on modern ClickHouse (chDB 26.9): the rollups of sql/010-015, kept by their views from inserts
into page_visits, and the stats queries of sql/queries/stats_*.sql and ingested_per_minute.sql, on seeded
events with exact expected numbers. The same queries run on ClickHouse 18.16 in
ingest-gateway/tests/stats_warehouse.rs.

chDB runs one embedded server per process, on the path it was first opened with; when another module of
this directory opened it already, this one works on that path, in a database of its own.

At-least-once delivery: after every number below was taken, two of the events are delivered again (in their
own insert, so in their own parts, as a Kafka re-read would); every number must stay the same.

The query files are templates of the analytics model: filters and breakdowns are named as the API names them
(`country`, `page`, `source`, `entry_page`, ...), and the gateway writes the filter conditions (`bind-sql
--filter`); a breakdown's column and which filters only the raw visit query answers come from the model's
contract (analytics-model/contracts/dimensions.json), as the gateway takes them from the model.

Run: python3 -m pytest tests/sql
"""

import re
import sys

import pytest

from test_chdb import EMPTY_ROW, SQL_DIR, Warehouse, analytics_model, bind, as_migrate_creates

DATABASE = "pathlight_stats"

QUERIES = SQL_DIR / "queries"
DAY = 86_400
FROM = 1_767_225_600  # 2026-01-01T00:00:00Z
TO = FROM + DAY
H1, H2 = FROM + 3600, FROM + 7200
SITE = "s.example"
DIMENSIONS = {dimension["name"]: dimension for dimension in analytics_model()["dimensions"]}


def ev(event_id, session, visitor, ts, pathname, kind="pageview", site=SITE, **fields):
    return {**EMPTY_ROW, "event_id": event_id, "schema_version": 1, "kind": kind, "site": site,
            "session_id": session, "visitor_id": visitor, "timestamp": ts, "timestamp_ms": ts * 1000,
            "pathname": pathname, "props": "{}", **fields}


DESKTOP_DE = dict(country="DE", browser="Chrome", os="Linux", device="pc", screen_width=1920)
PHONE_FR = dict(country="FR", browser="Firefox", os="Android", device="smartphone", screen_width=400)
ROWS = [
    # S1: two page views, a custom event and the engagement sent on leaving: 100 s, no bounce.
    ev("a1", "S1", "v1", H1, "/", referrer_host="google.com", utm_source="newsletter", **DESKTOP_DE),
    ev("a2", "S1", "v1", H1 + 60, "/pricing", **DESKTOP_DE),
    ev("a3", "S1", "v1", H1 + 90, "/pricing", kind="event", event_name="signup", **DESKTOP_DE),
    ev("a4", "S1", "v1", H1 + 100, "/pricing", kind="engagement", engaged_ms=40_000, **DESKTOP_DE),
    # S2: one page view from a phone in France: a bounce of 0 s.
    ev("b1", "S2", "v2", H2, "/", **PHONE_FR),
    # S3: the first visitor again, in another tab: one page view and its engagement: a bounce of 30 s.
    ev("c1", "S3", "v1", H2 + 100, "/docs", **DESKTOP_DE),
    ev("c2", "S3", "v1", H2 + 130, "/docs", kind="engagement", engaged_ms=30_000, **DESKTOP_DE),
    # Another site, and the next day: never counted for SITE in [FROM, TO).
    ev("d1", "S4", "v4", H1 + 5, "/", site="other.example", **DESKTOP_DE),
    ev("e1", "S5", "v5", TO + 100, "/", **DESKTOP_DE),
]
REDELIVERED = [ROWS[0], ROWS[2]]


def rows(wh, sql):
    return [tuple(int(c) if c.isdigit() else c for c in line.split("\t")) for line in wh.query(sql).splitlines()]


def breakdown_column(name):
    """The column a breakdown by the API name `name` groups by: an event dimension's column (of the hourly rollup
    and of the raw queries' event columns), a visit dimension's column of the visit subquery."""
    dimension = DIMENSIONS[name]
    column = dimension["column"] if dimension["scope"] == "event" else dimension["visit_alias"]
    assert column, f"{name} cannot be broken down by"
    return column


def needs_every_pageview(given):
    """Whether a filter selects visits by any of their page views (the visit rollup keeps only entry and exit
    pages), so only the raw visit query answers it, as the gateway chooses."""
    return any(DIMENSIONS[name]["on_visits"] == "any_pageview" for name in given)


def counts(wh, step=TO - FROM, raw=False, **given):
    name = "stats_counts_raw.sql" if raw else "stats_counts.sql"
    return rows(wh, bind((QUERIES / name).read_text(), FROM, step, step, FROM, SITE, FROM, TO, filters=given))


def visits(wh, step=TO - FROM, raw=False, **given):
    name = "stats_visits_raw.sql" if raw or needs_every_pageview(given) else "stats_visits.sql"
    return rows(wh, bind((QUERIES / name).read_text(), FROM, step, step, FROM, SITE, FROM, SITE, FROM, FROM * 1000,
                         TO * 1000,
                         filters=given))


def bind_with_identifier(query, column, *values, filters=None):
    """The first `?` bound as an identifier (backquoted), as the clickhouse crate binds `Identifier`."""
    head, rest = query.split("?", 1)
    return bind(head + "`" + column + "`" + rest, *values, filters=filters)


def breakdown(wh, name, raw=False, only_events=0, limit=10, **given):
    query = "stats_breakdown_raw.sql" if raw else "stats_breakdown.sql"
    return rows(wh, bind_with_identifier((QUERIES / query).read_text(), breakdown_column(name), SITE, FROM, TO,
                                         only_events, only_events, limit, filters=given))


def visit_breakdown(wh, name, limit=10, **given):
    return rows(wh, bind_with_identifier((QUERIES / "stats_breakdown_visits.sql").read_text(), breakdown_column(name),
                                         SITE, FROM, SITE, FROM, FROM * 1000, TO * 1000, limit, filters=given))


def realtime(wh, since, until):
    return rows(wh, bind((QUERIES / "stats_realtime.sql").read_text(), SITE, since, until))


def ingested(wh, site, start, minutes):
    return rows(wh, bind((QUERIES / "ingested_per_minute.sql").read_text(), start, minutes, site, site, start,
                         start + 60 * minutes))


def every_number(wh):
    return {
        "counts": counts(wh), "hourly": counts(wh, step=3600), "raw": counts(wh, raw=True),
        "visits": visits(wh), "visits_hourly": visits(wh, step=3600), "page_visits": visits(wh, page="/docs"),
        "by_country": breakdown(wh, "country"), "by_event": breakdown(wh, "event", only_events=1),
        "entry": visit_breakdown(wh, "entry_page"), "exit": visit_breakdown(wh, "exit_page"),
        "realtime": realtime(wh, H2, H2 + 300), "ingested": ingested(wh, "", H1, 3),
    }


class StatsWarehouse(Warehouse):
    def __init__(self, path):
        try:
            super().__init__(path)
        except Exception as err:  # noqa: BLE001 - chDB raises plain exceptions
            opened = re.search(r"already initialized with path '([^']+)'", str(err))
            if not opened:
                raise
            super().__init__(opened.group(1))
        self.query(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        self.query(f"USE {DATABASE}")

    def kafka_tables(self):
        return set(self.query(f"SELECT name FROM system.tables WHERE database = '{DATABASE}' AND engine = 'Kafka'").split())


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Every migration applied, the events inserted, every number taken, then two events delivered again."""
    wh = StatsWarehouse(tmp_path_factory.mktemp("chdb-stats"))
    for migration in as_migrate_creates():
        wh.apply(migration)
    wh.insert(ROWS)
    before = every_number(wh)
    wh.insert(REDELIVERED)
    return wh, before


def test_the_rollups_and_their_views_exist(seeded):
    wh, _ = seeded
    tables = wh.query(f"SELECT replaceRegexpOne(name, '^(stats_[a-z_]+_mv)_[0-9a-f]{{8}}$', '\\\\1') AS plain, engine "
                      f"FROM system.tables WHERE database = '{DATABASE}' AND name LIKE 'stats_%' "
                      "ORDER BY plain").splitlines()
    assert tables == ["stats_arrivals\tAggregatingMergeTree", "stats_arrivals_mv\tMaterializedView",
                      "stats_arrivals_queue_mv\tMaterializedView",
                      "stats_daily_events\tReplacingMergeTree", "stats_daily_runs\tReplacingMergeTree",
                      "stats_daily_visits\tReplacingMergeTree",
                      "stats_hourly\tAggregatingMergeTree", "stats_hourly_mv\tMaterializedView",
                      "stats_hourly_queue_mv\tMaterializedView", "stats_sessions\tAggregatingMergeTree",
                      "stats_sessions_mv\tMaterializedView", "stats_sessions_queue_mv\tMaterializedView",
                      "stats_visit_rows\tMergeTree"], tables


def test_a_redelivered_event_is_stored_twice_and_changes_no_number(seeded):
    wh, before = seeded
    assert wh.query("SELECT count() FROM page_visits WHERE event_id = 'a1'") == "2"
    assert every_number(wh) == before


def test_visitors_page_views_and_custom_events_over_the_range_and_per_hour(seeded):
    wh, _ = seeded
    assert counts(wh) == [(FROM, 2, 4, 1)]
    assert counts(wh, step=3600) == [(H1, 1, 2, 1), (H2, 2, 2, 0)]
    assert counts(wh, raw=True) == counts(wh)
    assert counts(wh, raw=True, step=3600) == counts(wh, step=3600)


def test_visits_bounces_and_duration(seeded):
    wh, _ = seeded
    assert visits(wh) == [(FROM, 3, 2, 130_000)]
    assert visits(wh, step=3600) == [(H1, 1, 0, 100_000), (H2, 2, 2, 30_000)]
    assert visits(wh, raw=True) == visits(wh)
    assert visits(wh, raw=True, step=3600) == visits(wh, step=3600)


def test_filters_apply_to_events_and_to_the_first_event_of_a_visit(seeded):
    wh, _ = seeded
    assert counts(wh, country="DE") == [(FROM, 1, 3, 1)]
    assert counts(wh, screen_class="mobile") == [(FROM, 1, 1, 0)]
    assert counts(wh, page="/pricing") == counts(wh, raw=True, page="/pricing") == [(FROM, 1, 1, 1)]
    assert visits(wh, country="DE") == visits(wh, raw=True, country="DE") == [(FROM, 2, 1, 130_000)]
    assert visits(wh, source="google.com", utm_source="newsletter") == [(FROM, 1, 0, 100_000)]
    # Given out of the registry's order, each value still goes to its own condition.
    assert visits(wh, utm_source="newsletter", source="google.com") == [(FROM, 1, 0, 100_000)]
    assert visits(wh, page="/docs") == [(FROM, 1, 1, 30_000)]
    assert visits(wh, country="XX") == []


def test_breakdowns_by_event_property_and_by_custom_event(seeded):
    wh, _ = seeded
    # value, visitors, page views, custom events, visitors who sent one
    assert breakdown(wh, "country") == [("DE", 1, 3, 1, 1), ("FR", 1, 1, 0, 0)]
    assert breakdown(wh, "page", limit=2) == [("/", 2, 2, 0, 0), ("/pricing", 1, 1, 1, 1)]
    assert breakdown(wh, "event", only_events=1) == [("signup", 0, 0, 1, 1)]
    assert breakdown(wh, "screen_class", raw=True) == breakdown(wh, "screen_class") == [
        ("desktop", 1, 3, 1, 1), ("mobile", 1, 1, 0, 0)]
    # Filtered (the filter's value is bound between the range and only_events): FR's one page view, b1, of "/".
    assert breakdown(wh, "page", country="FR") == breakdown(wh, "page", raw=True, country="FR") == [
        ("/", 1, 1, 0, 0)]


def test_entry_and_exit_pages_by_visits(seeded):
    wh, _ = seeded
    # value, visits, bounces, duration
    assert (breakdown_column("entry_page"), breakdown_column("exit_page")) == ("visit_entry_page", "visit_exit_page")
    assert visit_breakdown(wh, "entry_page") == [("/", 2, 1, 100_000), ("/docs", 1, 1, 30_000)]
    assert visit_breakdown(wh, "exit_page") == [("/", 1, 1, 0), ("/docs", 1, 1, 30_000), ("/pricing", 1, 0, 100_000)]
    # Filtered by the first event: DE's visits are S1 (entered at "/", 100 s) and S3 (a bounce on "/docs", 30 s).
    assert visit_breakdown(wh, "entry_page", country="DE") == [("/", 1, 0, 100_000), ("/docs", 1, 1, 30_000)]


def test_current_visitors_and_ingestion_per_minute_with_empty_minutes_as_zero(seeded):
    wh, _ = seeded
    assert realtime(wh, H2, H2 + 300) == [(2, 2)]
    assert ingested(wh, "", H1, 3) == [(H1, 2), (H1 + 60, 3), (H1 + 120, 0)]
    assert ingested(wh, SITE, H1, 3) == [(H1, 1), (H1 + 60, 3), (H1 + 120, 0)]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
