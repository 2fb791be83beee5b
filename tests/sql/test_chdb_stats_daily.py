"""The daily rollups (sql/016-018, 022) on modern ClickHouse (chDB 26.9): the rollup step's statements
(sql/queries/stats_rollup_*.sql), run day by day with the values `ingest-gateway rollup` binds, and the
daily queries (sql/queries/stats_daily_*.sql) give exactly the numbers of the raw events (and of the hourly
and visit rollups for entry and exit pages) on three days of the stats benchmark's synthetic traffic
(scripts/bench/stats_seed.sql, 1,000 visits); a redelivered event changes no number, before the step runs
again and after. The same on ClickHouse 18.16: ingest-gateway/tests/stats_daily_warehouse.rs.

Run: python3 -m pytest tests/sql
"""

import re
import sys

import pytest

from test_chdb import ROOT, Warehouse, bind, as_migrate_creates
from test_chdb_stats import DIMENSIONS, bind_with_identifier, breakdown_column, rows

DATABASE = "pathlight_stats_daily"
QUERIES = ROOT / "sql" / "queries"
SEED = ROOT / "scripts" / "bench" / "stats_seed.sql"
DAY = 86_400
FROM = 1_790_812_800  # 2026-10-01T00:00:00Z, where the seed starts
DAYS = 3
TO = FROM + DAYS * DAY
SITE = "bench.example"
NAMES = ["2026-10-01", "2026-10-02", "2026-10-03"]
SLOTS = 6_000


def seed(wh, offset, count):
    sql = SEED.read_text()
    for name, value in {"START": FROM, "OFFSET": offset, "COUNT": count, "SLOTS": SLOTS, "DAYS": DAYS}.items():
        sql = sql.replace(f"__{name}__", str(value))
    wh.query(sql)


def roll_up(wh, version, now=TO + 3 * DAY, late=2 * DAY):
    """One run over the seeded days, with the statements and values of ingest-gateway/src/stats/rollup.rs."""
    for index, name in enumerate(NAMES):
        start = FROM + index * DAY
        wh.query(bind((QUERIES / "stats_rollup_events.sql").read_text(), name, version, start, start + DAY))
        for paired in sorted(PAIRED):
            wh.query(bind_with_identifier((QUERIES / "stats_rollup_event_pairs.sql").read_text(),
                                          DIMENSIONS[paired]["column"], name, version, paired, start, start + DAY))
        for visits in ["stats_rollup_visits.sql", "stats_rollup_visit_rows.sql"]:
            wh.query(bind((QUERIES / visits).read_text(), name, version, name, name, start * 1000, (start + DAY) * 1000))
        closed = int(now >= start + DAY + late)
        wh.query(bind((QUERIES / "stats_rollup_mark.sql").read_text(), name, version, closed))


def versions(wh):
    """The version of each seeded day's last run (its mark, sql/018), as the gateway's plan reads it."""
    marks = dict(line.split("\t")[:2] for line in
                 wh.query(bind((QUERIES / "stats_daily_days.sql").read_text(), NAMES[0], "2026-10-04")).splitlines())
    return [int(marks[name]) for name in NAMES]


def daily(wh, name, dimension="", value=""):
    """Per-day rows of stats_daily_counts.sql or stats_daily_visits.sql, without the day."""
    found = rows(wh, bind((QUERIES / name).read_text(), SITE, dimension, value, NAMES[0], "2026-10-04", NAMES,
                          versions(wh), NAMES[0]))
    assert [row[0] for row in found] == sorted({row[0] for row in found}) and {row[0] for row in found} <= set(NAMES)
    return [row[1:] for row in found]


def daily_totals(wh, dimension="", value=""):
    counts = [sum(c) for c in zip(*daily(wh, "stats_daily_counts.sql", dimension, value))] or [0, 0, 0]
    visits = [sum(c) for c in zip(*daily(wh, "stats_daily_visits.sql", dimension, value))] or [0, 0, 0]
    return tuple(counts), tuple(visits)


def raw_totals(wh, step=TO - FROM, **given):
    """Counts and visit numbers per bucket from the raw events, with filters by API name (`given`)."""
    counts = rows(wh, bind((QUERIES / "stats_counts_raw.sql").read_text(), FROM, step, step, FROM, SITE, FROM, TO,
                           filters=given))
    visits = rows(wh, bind((QUERIES / "stats_visits_raw.sql").read_text(), FROM, step, step, FROM, SITE, FROM,
                           SITE, FROM, FROM * 1000, TO * 1000, filters=given))
    return [row[1:] for row in counts], [row[1:] for row in visits]


def daily_breakdown(wh, dimension, only_events=0, limit=1000):
    return rows(wh, bind((QUERIES / "stats_daily_breakdown.sql").read_text(), SITE, dimension, NAMES[0], "2026-10-04",
                         NAMES, versions(wh), NAMES[0], only_events, only_events, limit))


def raw_breakdown(wh, dimension, only_events=0, limit=1000):
    return rows(wh, bind_with_identifier((QUERIES / "stats_breakdown_raw.sql").read_text(),
                                         breakdown_column(dimension), SITE, FROM, TO, only_events, only_events, limit))


def daily_visit_breakdown(wh, dimension, limit=1000):
    return rows(wh, bind((QUERIES / "stats_daily_breakdown_visits.sql").read_text(), SITE, dimension, NAMES[0],
                         "2026-10-04", NAMES, versions(wh), NAMES[0], limit))


def rollup_visit_breakdown(wh, dimension, limit=1000):
    return rows(wh, bind_with_identifier((QUERIES / "stats_breakdown_visits.sql").read_text(),
                                         breakdown_column(dimension), SITE, FROM, SITE, FROM, FROM * 1000, TO * 1000,
                                         limit))


def visit_rows(wh, version, step=TO - FROM, **given):
    """Visit numbers per bucket from the finalized visit rows of one run's `version`, as the API reads them."""
    versions = [version] * len(NAMES)
    return [row[1:] for row in rows(wh, bind((QUERIES / "stats_visit_rows.sql").read_text(), FROM, step, step, FROM,
                                             SITE, NAMES[0], NAMES[-1], versions, NAMES[0], FROM * 1000, TO * 1000,
                                             filters=given))]


def visit_rows_breakdown(wh, version, dimension, limit=1000, **given):
    versions = [version] * len(NAMES)
    return rows(wh, bind_with_identifier((QUERIES / "stats_breakdown_visit_rows.sql").read_text(),
                                         breakdown_column(dimension), SITE, NAMES[0], NAMES[-1], versions, NAMES[0],
                                         FROM * 1000, TO * 1000, limit, filters=given))


def every_daily_number(wh):
    return {
        "totals": daily_totals(wh), "per_day": daily(wh, "stats_daily_counts.sql"),
        "country": daily_totals(wh, "country", "C0"), "by_country": daily_breakdown(wh, "country"),
        "by_page": daily_breakdown(wh, "page"), "by_event": daily_breakdown(wh, "event", only_events=1),
        "entry": daily_visit_breakdown(wh, "entry_page"), "exit": daily_visit_breakdown(wh, "exit_page"),
        "days": wh.query(bind((QUERIES / "stats_daily_days.sql").read_text(), NAMES[0], "2026-10-04")),
    }


class DailyWarehouse(Warehouse):
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
        listed = self.query(f"SELECT name FROM system.tables WHERE database = '{DATABASE}' AND engine = 'Kafka'")
        return set(listed.split())


@pytest.fixture(scope="module")
def rolled(tmp_path_factory):
    """Every migration, three seeded days (in two inserts, as two deliveries would be), one rollup run."""
    wh = DailyWarehouse(tmp_path_factory.mktemp("chdb-stats-daily"))
    for migration in as_migrate_creates():
        wh.apply(migration)
    seed(wh, 0, SLOTS // 2)
    seed(wh, SLOTS // 2, SLOTS - SLOTS // 2)
    roll_up(wh, version=1)
    return wh


def test_the_seed_spans_three_days_of_visits(rolled):
    pageviews, visits = rolled.query("SELECT countIf(kind = 'pageview'), uniqExact(session_id) FROM page_visits")\
        .split("\t")
    assert (int(pageviews), int(visits)) == (3_516, 1_000)
    assert daily(rolled, "stats_daily_counts.sql")[0][1] > 0
    assert rolled.query(bind((QUERIES / "stats_daily_days.sql").read_text(), NAMES[0], "2026-10-04")).splitlines() == [
        f"{name}\t1\t1\t1" for name in NAMES]


def test_the_daily_totals_are_the_raw_events_numbers(rolled):
    counts, visits = raw_totals(rolled)
    assert daily_totals(rolled) == (counts[0], visits[0])
    per_day_counts, per_day_visits = raw_totals(rolled, step=DAY)
    assert daily(rolled, "stats_daily_counts.sql") == per_day_counts
    assert daily(rolled, "stats_daily_visits.sql") == per_day_visits


@pytest.mark.parametrize("name,value", [("country", "C0"), ("country", "C7"), ("source", "google.com"),
                                        ("device", "smartphone"), ("screen_class", "mobile"),
                                        ("utm_source", "newsletter"), ("city", "C1-T3"), ("browser", "Firefox"),
                                        ("os", "iOS")])
def test_one_filter_gives_the_raw_events_numbers(rolled, name, value):
    counts, visits = raw_totals(rolled, **{name: value})
    assert counts and visits, "the seed has such events"
    assert daily_totals(rolled, name, value) == (counts[0], visits[0])


def test_breakdowns_are_the_raw_events_and_visit_rollup_numbers(rolled):
    assert daily_breakdown(rolled, "country") == raw_breakdown(rolled, "country")
    assert daily_breakdown(rolled, "page", limit=20) == raw_breakdown(rolled, "page", limit=20)
    assert daily_breakdown(rolled, "event", only_events=1) == raw_breakdown(rolled, "event", only_events=1)
    assert daily_breakdown(rolled, "screen_class") == raw_breakdown(rolled, "screen_class")
    assert len(daily_breakdown(rolled, "country")) > 10
    assert daily_visit_breakdown(rolled, "entry_page") == rollup_visit_breakdown(rolled, "entry_page")
    assert daily_visit_breakdown(rolled, "exit_page", limit=5) == rollup_visit_breakdown(rolled, "exit_page", 5)


def raw_filtered_breakdown(wh, dimension, only_events=0, limit=1000, **given):
    return rows(wh, bind_with_identifier((QUERIES / "stats_breakdown_raw.sql").read_text(),
                                         breakdown_column(dimension), SITE, FROM, TO, only_events, only_events, limit,
                                         filters=given))


@pytest.mark.parametrize("name,value", [("country", "C1"), ("os", "Android"), ("screen_class", "mobile"),
                                        ("device", "smartphone")])
def test_the_paired_rows_of_a_filter_of_few_values_give_its_raw_breakdowns(rolled, name, value):
    """`country=C1/page` rows (analytics-model's `paired_dimension`): a filtered breakdown from the daily rows."""
    for dimension, limit in [("page", 20), ("source", 1000), ("country", 1000), ("city", 1000), ("browser", 1000)]:
        raw = raw_filtered_breakdown(rolled, dimension, limit=limit, **{name: value})
        assert raw, f"the seed has {name}={value} events"
        assert daily_breakdown(rolled, f"{name}={value}/{dimension}", limit=limit) == raw, dimension
    events = raw_filtered_breakdown(rolled, "event", only_events=1, **{name: value})
    assert daily_breakdown(rolled, f"{name}={value}/event", only_events=1) == events


@pytest.mark.parametrize("given", [{"country": "C1", "browser": "Chrome"}, {"os": "Android", "page": "/p/1"},
                                   {"source": "google.com", "device": "smartphone"}], ids=str)
def test_the_paired_rows_count_two_filters_as_the_raw_events_do(rolled, given):
    (paired, value), (other, other_value) = sorted(given.items(), key=lambda kv: kv[0] not in PAIRED)
    counts, _ = raw_totals(rolled, **given)
    per_day, _ = raw_totals(rolled, step=DAY, **given)
    assert counts and counts[0][1] > 0, "the seed has such page views"
    assert daily(rolled, "stats_daily_counts.sql", f"{paired}={value}/{other}", other_value) == per_day


# Filters whose daily rows pair them with every event dimension (analytics-model's `Dimension::paired`).
PAIRED = {name for name, dimension in DIMENSIONS.items() if dimension["paired"]}
FILTER_SETS = [{}, {"country": "C0"}, {"page": "/p/1"}, {"country": "C1", "browser": "Chrome"},
               {"page": "/p/2", "device": "smartphone"}, {"source": "google.com", "os": "Android", "device": "smartphone"}]


@pytest.mark.parametrize("given", FILTER_SETS, ids=lambda given: "&".join(f"{k}={v}" for k, v in given.items()) or "none")
def test_the_finalized_visit_rows_give_the_raw_events_visit_numbers_under_any_filters(rolled, given):
    _, raw = raw_totals(rolled, **given)
    _, raw_per_day = raw_totals(rolled, step=DAY, **given)
    assert raw and raw[0][0] > 0, "the seed has such visits"
    assert visit_rows(rolled, 1, **given) == raw
    assert visit_rows(rolled, 1, step=DAY, **given) == raw_per_day
    assert visit_rows(rolled, 0, **given) == [], "only the rows of the version asked for are read"
    if "page" not in given:
        for dimension in ["entry_page", "exit_page"]:
            expected = rows(rolled, bind_with_identifier((QUERIES / "stats_breakdown_visits.sql").read_text(),
                                                         breakdown_column(dimension), SITE, FROM, SITE, FROM,
                                                         FROM * 1000, TO * 1000, 1000, filters=given))
            assert visit_rows_breakdown(rolled, 1, dimension, **given) == expected


def test_a_redelivered_event_changes_no_number_before_or_after_the_next_run(rolled):
    before = every_daily_number(rolled)
    raw_before = raw_totals(rolled)
    # A hundred slots delivered again, in their own insert, as a Kafka re-read would.
    seed(rolled, 1_000, 100)
    assert rolled.query("SELECT count() FROM page_visits WHERE event_id = 'e1000'") == "2"
    assert every_daily_number(rolled) == before
    roll_up(rolled, version=2)
    assert {**every_daily_number(rolled), "days": None} == {**before, "days": None}
    assert raw_totals(rolled) == raw_before
    assert daily_totals(rolled) == (raw_before[0][0], raw_before[1][0])


def test_a_later_run_replaces_a_days_rows_and_a_day_in_its_late_window_is_left_open(rolled):
    # Events that arrive after a run (late ones) are counted by the next run.
    late = rolled.query("SELECT count() FROM page_visits FINAL WHERE kind = 'pageview'")
    rolled.query("INSERT INTO page_visits (event_id, schema_version, kind, site, session_id, visitor_id, timestamp, "
                 f"timestamp_ms, pathname, props) VALUES ('late1', 1, 'pageview', '{SITE}', 'late-s', '2026-10-03-x', "
                 f"{FROM + 2 * DAY + 10}, {(FROM + 2 * DAY + 10) * 1000}, '/late', '{{}}')")
    (visitors, pageviews, _), (visits, _, _) = daily_totals(rolled)
    roll_up(rolled, version=3, now=FROM + 3 * DAY)
    assert daily_totals(rolled)[0][:2] == (visitors + 1, pageviews + 1)
    assert daily_totals(rolled)[1][0] == visits + 1
    assert visit_rows(rolled, 3) == raw_totals(rolled)[1], "the late visit is in the later run's visit rows"
    assert visit_rows(rolled, 3, page="/late") == [(1, 1, 0)]
    assert visit_rows(rolled, 1, page="/late") == [], "the earlier run's rows are still stored, and not read"
    assert int(rolled.query("SELECT count() FROM page_visits FINAL WHERE kind = 'pageview'")) == int(late) + 1
    days = rolled.query(bind((QUERIES / "stats_daily_days.sql").read_text(), NAMES[0], "2026-10-04")).splitlines()
    # Still closed by the earlier runs: `closed` is the maximum over runs; `paired` is the latest run's.
    assert days == [f"{name}\t3\t1\t1" for name in NAMES]
    # A run of a rollup from before the paired rows (sql/023) marks a day without them.
    rolled.query(f"INSERT INTO stats_daily_runs (day, version, closed) VALUES ('{NAMES[0]}', 4, 1)")
    days = rolled.query(bind((QUERIES / "stats_daily_days.sql").read_text(), NAMES[0], "2026-10-04")).splitlines()
    assert days[0] == f"{NAMES[0]}\t4\t1\t0"
    # That run found 2026-10-01 past its window (it ended two days before) and the other two days in theirs.
    assert rolled.query("SELECT arraySort(groupArray(toString(day))) FROM stats_daily_runs WHERE closed = 0") == \
        "['2026-10-02','2026-10-03']"


def test_a_value_that_a_later_run_no_longer_has_is_not_read(rolled):
    # A visit of the first day whose exit page no other visit of the three days has (the breakdown below covers
    # them all); a late page view moves it on. Listed in session order, so every run picks the same one.
    visits = rolled.query(f"SELECT session_id, argMaxMerge(exit_page), argMinMerge(visitor_id), maxMerge(ended_ms), "
                          f"minMerge(started_ms) < {(FROM + DAY) * 1000} FROM stats_sessions WHERE site = '{SITE}' "
                          "GROUP BY session_id HAVING uniqExactIfMerge(pageviews) > 0 ORDER BY session_id").splitlines()
    visits = [line.split("\t") for line in visits]
    exits = [v[1] for v in visits]
    session, exit_page, visitor, ended, _ = next(v for v in visits if v[4] == "1" and exits.count(v[1]) == 1)
    at = int(ended) + 1_000
    rolled.query("INSERT INTO page_visits (event_id, schema_version, kind, site, session_id, visitor_id, timestamp, "
                 f"timestamp_ms, pathname, props) VALUES ('moved1', 1, 'pageview', '{SITE}', '{session}', '{visitor}', "
                 f"{at // 1000}, {at}, '/moved', '{{}}')")
    roll_up(rolled, version=4, now=FROM + 3 * DAY)
    exits_read = daily_visit_breakdown(rolled, "exit_page")
    assert exits_read == rollup_visit_breakdown(rolled, "exit_page")
    assert exit_page not in [row[0] for row in exits_read] and "/moved" in [row[0] for row in exits_read]
    assert daily_totals(rolled)[1][0] == raw_totals(rolled)[1][0][0]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
