"""Every panel's and the alert's SQL, expanded as the plugin would, runs on current ClickHouse (chDB) over
seeded events and answers exact numbers under the column names its panel reads; and the web dashboard's numbers
are the stats API's for the same range and filters (its query files, rendered by `ingest-gateway bind-sql`, run
on the same events)."""
import calendar
import json
import math
import re
import subprocess
import tempfile
import time

import pytest
import yaml

import generate
from plugin_macros import at, expand
from test_chdb import EMPTY_ROW, FROM, GATEWAY, ROOT, SQL_DIR, Warehouse, as_migrate_creates

HOUR = 3600
# What Grafana sends for the three hours from FROM: a range ends at .999 of its last second, as "today" or a
# day picked in the time picker does; the plugin's macros truncate to seconds and $__timeFilter includes both
# ends, so the dashboard reads [FROM, FROM + 3 h), the API's from=FROM&to=FROM + 3 h.
API_FROM, API_TO = FROM, FROM + 3 * HOUR
RANGE = (at(API_FROM), at(API_TO - 0.001))
SITE = {"site": "a.example", **{name: "" for name in generate.FILTERS}}


def visit(event_id, session, visitor, ts, pathname="/", kind="pageview", site="a.example", **fields):
    """A stored event of `session` (a browser tab's visit)."""
    return {**EMPTY_ROW, "event_id": event_id, "schema_version": 1, "kind": kind, "site": site,
            "session_id": session, "visitor_id": visitor, "timestamp": ts, "timestamp_ms": ts * 1000,
            "pathname": pathname, "props": "{}", **fields}


DESKTOP_CHROME_US = {"browser": "Chrome", "os": "Windows", "device": "desktop", "country": "US", "region": "California",
                     "city": "San Francisco", "screen_width": 1920}
PHONE_FIREFOX_DE = {"browser": "Firefox", "os": "Android", "device": "smartphone", "country": "DE", "region": "Berlin",
                    "city": "Berlin", "screen_width": 400}
PHONE_CHROME_FR = {"browser": "Chrome", "os": "iOS", "device": "smartphone", "country": "FR", "screen_width": 800}
LAPTOP_SAFARI_DE = {"browser": "Safari", "os": "macOS", "device": "desktop", "country": "DE", "region": "Hamburg",
                    "city": "Hamburg", "screen_width": 1280}
FIRST = visit("p1", "S1", "v1", FROM + 60, referrer_host="news.example", **DESKTOP_CHROME_US)
HISTORY = [
    # S1: two page views and the engagement sent on leaving: 120 s, no bounce.
    FIRST,
    visit("p2", "S1", "v1", FROM + 120, "/pricing", **DESKTOP_CHROME_US),
    visit("g1", "S1", "v1", FROM + 180, "/pricing", kind="engagement", **DESKTOP_CHROME_US),
    # S2: a page view and a custom event from a phone in Germany: 60 s, no bounce.
    visit("p3", "S2", "v2", FROM + HOUR + 60, referrer_host="news.example", utm_source="mail", **PHONE_FIREFOX_DE),
    visit("e1", "S2", "v2", FROM + HOUR + 120, kind="event", event_name="signup", **PHONE_FIREFOX_DE),
    # S3: one page view: a bounce of 0 s.
    visit("p4", "S3", "v3", FROM + 2 * HOUR, **PHONE_CHROME_FR),
    # S4: v1 again in another tab, in the range's last second; its engagement after the range still counts in its
    # duration (30 s), as the API counts it. A bounce.
    visit("p5", "S4", "v1", API_TO - 1, "/docs", **DESKTOP_CHROME_US),
    visit("g2", "S4", "v1", API_TO + 29, "/docs", kind="engagement", **DESKTOP_CHROME_US),
    # S5 began before the range: its page view in the range counts, the visit does not.
    visit("q1", "S5", "v5", FROM - 600, **LAPTOP_SAFARI_DE),
    visit("q2", "S5", "v5", FROM + 300, "/pricing", **LAPTOP_SAFARI_DE),
    visit("b1", "S9", "v9", FROM + 60, site="b.example", **DESKTOP_CHROME_US),  # another site
    visit("late", "S6", "v4", API_TO, **DESKTOP_CHROME_US),                      # the API's `to`: outside
]


DAY = 24 * HOUR


def chunk(session_id, seq, first_s, last_s, is_final=0, tab_id="t1", site="a.example"):
    """A recording chunk as recording_chunks stores it, times as text (what 18.16's JSONEachRow reads)."""
    received = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last_s))
    return {"schema_version": 1, "site": site, "session_id": session_id, "tab_id": tab_id, "seq": seq, "part": 0,
            "parts": 1, "first_ts_ms": first_s * 1000, "last_ts_ms": last_s * 1000, "event_count": 3,
            "raw_bytes": 100, "compressed_bytes": 50, "encoding": "gzip", "full_snapshot": int(seq == 0),
            "is_final": is_final, "url": f"https://a.example/{session_id}", "timestamp": received,
            "timestamp_ms": last_s * 1000}


CHUNKS = [
    chunk("s1", 0, FROM + 60, FROM + 90),
    chunk("s1", 1, FROM + 100, FROM + 120, is_final=1),
    chunk("s1", 1, FROM + 100, FROM + 120, is_final=1),      # redelivered
    chunk("s2", 0, FROM + HOUR, FROM + HOUR + 30),           # its final chunk never came
    chunk("s3", 0, FROM + DAY + 60, FROM + DAY + 70, is_final=1),
    chunk("s9", 0, FROM + 60, FROM + 70, is_final=1, site="b.example"),
]
RECORDING_DAYS = (at(FROM), at(FROM + 2 * DAY - 1))


def seed(wh):
    wh.insert(HISTORY)
    wh.insert([FIRST])  # redelivered, in its own part
    wh.query("INSERT INTO recording_chunks FORMAT JSONEachRow\n" + "\n".join(json.dumps(c) for c in CHUNKS))


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    wh = Warehouse(tmp_path_factory.mktemp("chdb-grafana"))
    for migration in as_migrate_creates():
        wh.apply(migration)
    seed(wh)
    return wh


def rows(wh, sql, variables=SITE, time_range=RANGE, interval_s=HOUR):
    """(column names and types, rows) of a panel query as the plugin sends it; DateTime as unix seconds."""
    expanded = expand(sql, *time_range, interval_s=interval_s, variables=variables)
    answer = json.loads(wh.query(f"{expanded} FORMAT JSONCompact"))
    columns = [(column["name"], column["type"]) for column in answer["meta"]]

    def value(ty, text):
        if ty.startswith("DateTime"):  # printed in the server's time zone, UTC on both servers tested
            return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))
        return int(text) if ty in ("UInt64", "Int64") else text  # JSON quotes 64-bit integers

    return columns, [[value(ty, v) for (_, ty), v in zip(columns, row)] for row in answer["data"]]


def test_top_stats_count_visitors_among_page_views_page_views_and_custom_events_of_the_site(wh):
    columns, data = rows(wh, generate.TOP_STATS)
    assert columns == [("visitors", "UInt64"), ("pageviews", "UInt64"), ("custom_events", "UInt64")]
    # v1, v2, v3 and v5 viewed pages (p1 twice delivered, p2, p3, p4, p5, q2); e1 is the custom event.
    assert data == [[4, 6, 1]]


def test_the_visit_panel_counts_visits_begun_in_the_range_with_the_models_ratios(wh):
    columns, data = rows(wh, generate.VISIT_STATS)
    assert [name for name, _ in columns] == ["visits", "bounce_rate", "visit_duration", "views_per_visit"]
    # S1-S4 (not S5, begun before the range, nor S6, at its end); S3 and S4 bounced; 120 + 60 + 0 + 30 s over 4
    # visits is 52.5 s, rounded half up; 6 page views over 4 visits.
    assert data == [[4, 50.0, 53, 1.5]]


# (filters, top stats, visit panel)
FILTERED = [
    ({"country": "US"}, [1, 3, 0], [2, 50.0, 75, 1.5]),
    # q2 is a German page view, but its visit S5 began before the range.
    ({"country": "DE"}, [2, 2, 1], [1, 0.0, 60, 2.0]),
    ({"device": "smartphone"}, [2, 2, 1], [2, 50.0, 30, 1.0]),
    ({"device": "smartphone", "browser": "Firefox"}, [1, 1, 1], [1, 0.0, 60, 1.0]),
    # A page filter selects page views of the page, and visits that viewed it (S1; S5 began before the range).
    ({"page": "/pricing"}, [2, 2, 0], [1, 0.0, 120, 2.0]),
    # Visits by their first event's referrer: S1 and S2, though S1's second page view had none.
    ({"source": "news.example"}, [2, 2, 0], [2, 0.0, 90, 1.0]),
    ({"utm_source": "mail"}, [1, 1, 0], [1, 0.0, 60, 1.0]),
    ({"screen_class": "mobile"}, [1, 1, 1], [1, 0.0, 60, 1.0]),
    # A page view but no visit begun in the range: every ratio 0, not a division by zero.
    ({"screen_class": "laptop"}, [1, 1, 0], [0, 0.0, 0, 0.0]),
    ({"city": "San Francisco", "region": "California"}, [1, 3, 0], [2, 50.0, 75, 1.5]),
    ({"os": "BeOS"}, [0, 0, 0], [0, 0.0, 0, 0.0]),
]


@pytest.mark.parametrize("filters, counts, visits", FILTERED, ids=lambda v: str(v))
def test_the_filters_select_events_and_visits_as_the_api_does(wh, filters, counts, visits):
    variables = {**SITE, **filters}
    assert rows(wh, generate.TOP_STATS, variables=variables)[1] == [counts]
    assert rows(wh, generate.VISIT_STATS, variables=variables)[1] == [visits]


def test_visitors_and_page_views_over_time_come_in_interval_buckets_with_a_time_column(wh):
    columns, data = rows(wh, generate.OVER_TIME)
    assert [name for name, _ in columns] == ["time", "visitors", "pageviews"]
    assert columns[0][1].startswith("DateTime")
    assert data == [[FROM, 2, 3], [FROM + HOUR, 1, 1], [FROM + 2 * HOUR, 2, 2]]


def test_the_buckets_follow_the_dashboard_interval(wh):
    _, data = rows(wh, generate.OVER_TIME, interval_s=2 * HOUR)
    assert data == [[FROM, 3, 4], [FROM + 2 * HOUR, 2, 2]]


# Most visitors first, then most custom events, then by value, as the API's breakdowns rank them.
BREAKDOWNS = [
    ("page", [["/", 3, 3], ["/pricing", 2, 2], ["/docs", 1, 1]]),
    ("country", [["DE", 2, 2], ["FR", 1, 1], ["US", 1, 3]]),
    ("browser", [["Chrome", 2, 4], ["Firefox", 1, 1], ["Safari", 1, 1]]),
    ("device", [["smartphone", 2, 2], ["desktop", 2, 4]]),
    ("os", [["Android", 1, 1], ["Windows", 1, 3], ["iOS", 1, 1], ["macOS", 1, 1]]),
]


@pytest.mark.parametrize("name, expected", BREAKDOWNS)
def test_breakdowns_rank_values_by_visitors_among_page_views(wh, name, expected):
    columns, data = rows(wh, generate.breakdown(name))
    assert columns == [(name, "String"), ("visitors", "UInt64"), ("pageviews", "UInt64")]
    assert data == expected


def test_every_breakdown_panel_of_one_dimension_is_a_breakdown_by_its_api_name():
    events = [name for name, dimension in generate.DIMENSIONS.items() if dimension["scope"] == "event"]
    by_sql = {generate.breakdown(name): name for name in events}
    panels = [panel["targets"][0]["rawSql"] for panel in generate.web_analytics()["panels"]]
    # The ones tested above, and no other.
    assert {by_sql[sql] for sql in panels if sql in by_sql} == {name for name, _ in BREAKDOWNS}


def test_sources_split_referrers_by_utm_tags(wh):
    columns, data = rows(wh, generate.SOURCES)
    assert [name for name, _ in columns] == ["source", "utm_source", "utm_medium", "utm_campaign", "visitors"]
    assert data == [["", "", "", "", 3], ["news.example", "", "", "", 1], ["news.example", "mail", "", "", 1]]


def test_regions_and_cities_come_with_their_country(wh):
    columns, data = rows(wh, generate.REGIONS)
    assert [name for name, _ in columns] == ["country", "region", "city", "visitors", "pageviews"]
    assert data == [["DE", "Berlin", "Berlin", 1, 1], ["DE", "Hamburg", "Hamburg", 1, 1], ["FR", "", "", 1, 1],
                    ["US", "California", "San Francisco", 1, 3]]


def test_custom_events_are_counted_by_name_with_their_conversion_rate(wh):
    columns, data = rows(wh, generate.CUSTOM_EVENTS)
    assert [name for name, _ in columns] == ["event", "custom_events", "converted_visitors", "conversion_rate"]
    # v2 of the range's 4 visitors signed up.
    assert data == [["signup", 1, 1, 25.0]]
    # Among German visitors (v2, v5), one of two.
    assert rows(wh, generate.CUSTOM_EVENTS, variables={**SITE, "country": "DE"})[1] == [["signup", 1, 1, 50.0]]


def test_the_world_map_looks_countries_up_by_the_column_its_query_answers(wh):
    web = generate.web_analytics()
    geomap = next(panel for panel in web["panels"] if panel["type"] == "geomap")
    columns, _ = rows(wh, geomap["targets"][0]["rawSql"])
    location = geomap["options"]["layers"][0]["location"]
    assert location["lookup"] in [name for name, _ in columns]
    assert geomap["options"]["layers"][0]["config"]["size"]["field"] in [name for name, _ in columns]


# ---- The same numbers as the stats API -------------------------------------------------------------------------

def bind_sql(file, values, filters=None, identifier=None):
    """`ingest-gateway bind-sql` of a stats query file: its model markers and filters written, its `?`s bound;
    `identifier` takes the first `?` as the clickhouse crate binds an Identifier (backquoted)."""
    text = (SQL_DIR / "queries" / file).read_text()
    if identifier:
        head, rest = text.split("?", 1)
        text = f"{head}`{identifier}`{rest}"
    flags = [f"--filter={name}={value}" for name, value in (filters or {}).items()]
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as query:
        query.write(text)
        query.flush()
        return subprocess.run([str(GATEWAY), "bind-sql", query.name, *flags, *(json.dumps(v) for v in values)],
                              cwd=ROOT, capture_output=True, text=True)


def api_sql(file, values, filters=None, identifier=None):
    """A query file of the stats API as the gateway runs it."""
    done = bind_sql(file, values, filters, identifier)
    assert done.returncode == 0, f"bind-sql failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def api_rows(wh, file, values, filters=None, identifier=None):
    answer = json.loads(wh.query(f"{api_sql(file, values, filters, identifier)} FORMAT JSONCompact"))
    return [[int(v) if column["type"].startswith("UInt") else v for column, v in zip(answer["meta"], row)]
            for row in answer["data"]]


def rust_round(value, decimals):
    """f64::round (half away from zero) at `decimals`, as analytics_model::Ratios rounds."""
    scaled = value * 10 ** decimals
    whole = math.floor(scaled)
    return (whole + 1 if scaled - whole >= 0.5 else whole) / 10 ** decimals


def api_aggregate(wh, filters):
    """GET /api/v1/stats/aggregate for the range and filters, as the gateway computes it without daily rows:
    counts from the hourly rollup (the range is whole hours) and visits from the visit rollup, or from the raw
    events for a page filter (ingest-gateway/src/stats/{api,query}.rs), and the ratios of Ratios."""
    step = API_TO - API_FROM
    site = SITE["site"]
    counted = api_rows(wh, "stats_counts.sql", [API_FROM, step, step, API_FROM, site, API_FROM, API_TO], filters)
    raw = api_rows(wh, "stats_counts_raw.sql", [API_FROM, step, step, API_FROM, site, API_FROM, API_TO], filters)
    assert counted == raw, "the API's two sources of counts disagree"
    visits_file = "stats_visits_raw.sql" if "page" in filters else "stats_visits.sql"
    visited = api_rows(wh, visits_file, [API_FROM, step, step, API_FROM, site, API_FROM, site, API_FROM,
                                         API_FROM * 1000, API_TO * 1000], filters)
    _, visitors, pageviews, custom_events = counted[0] if counted else [0, 0, 0, 0]
    _, visits, bounces, duration_ms = visited[0] if visited else [0, 0, 0, 0]
    return {"visitors": visitors, "pageviews": pageviews, "custom_events": custom_events, "visits": visits,
            "bounce_rate": rust_round(100 * bounces / visits, 1) if visits else 0.0,
            "visit_duration": (duration_ms + visits * 500) // (visits * 1000) if visits else 0,
            "views_per_visit": rust_round(pageviews / visits, 2) if visits else 0.0}


def dashboard_aggregate(wh, filters):
    variables = {**SITE, **filters}
    counts = rows(wh, generate.TOP_STATS, variables=variables)
    visits = rows(wh, generate.VISIT_STATS, variables=variables)
    return {name: value for (columns, data) in (counts, visits) for (name, _), value in zip(columns, data[0])}


@pytest.mark.parametrize("filters", [{}, *(filters for filters, _, _ in FILTERED)], ids=lambda v: str(v))
def test_the_top_numbers_are_the_api_aggregates(wh, filters):
    assert dashboard_aggregate(wh, filters) == api_aggregate(wh, filters)


def api_breakdown(wh, name, filters):
    """GET /api/v1/stats/breakdown?property=NAME: (value, visitors, page views), or for custom events (value,
    events, visitors who sent one, conversion rate)."""
    column = generate.DIMENSIONS[name]["column"]
    only_events = int(name == "event")
    found = api_rows(wh, "stats_breakdown_raw.sql", [SITE["site"], API_FROM, API_TO, only_events, only_events, 100], filters,
                     identifier=column)
    rollup = api_rows(wh, "stats_breakdown.sql", [SITE["site"], API_FROM, API_TO, only_events, only_events, 100], filters,
                      identifier=column)
    assert found == rollup, "the API's two sources of a breakdown disagree"
    if not only_events:
        return [[value, visitors, pageviews] for value, visitors, pageviews, _, _ in found]
    visitors = api_aggregate(wh, filters)["visitors"]
    return [[value, events, converted, rust_round(100 * converted / visitors, 1) if visitors else 0.0]
            for value, _, _, events, converted in found]


@pytest.mark.parametrize("filters", [{}, {"device": "smartphone"}, {"page": "/"}], ids=lambda v: str(v))
def test_the_breakdowns_are_the_api_breakdowns(wh, filters):
    variables = {**SITE, **filters}
    for name, _ in BREAKDOWNS:
        assert rows(wh, generate.breakdown(name), variables=variables)[1] == api_breakdown(wh, name, filters), name
    assert rows(wh, generate.CUSTOM_EVENTS, variables=variables)[1] == api_breakdown(wh, "event", filters)


def ratios_at_exact_halves(wh):
    """(the model's ratios as the dashboard computes them, as the API's Ratios rounds them) at exact halves."""
    cases = [("views_per_visit", {"pageviews": 9, "visits": 8}, rust_round(9 / 8, 2)),
             ("bounce_rate", {"bounces": 1, "visits": 16}, rust_round(100 * 1 / 16, 1)),
             ("conversion_rate", {"converted_visitors": 1, "visitors": 16}, rust_round(100 * 1 / 16, 1))]
    found = []
    for name, columns, _ in cases:
        given = ", ".join(f"toUInt64({value}) AS {column}" for column, value in columns.items())
        found.append(rows(wh, f"SELECT {generate.ratio(name)} FROM (SELECT {given})")[1][0][0])
    return found, [expected for *_, expected in cases]


def test_the_ratios_round_exact_halves_as_the_api_does(wh):
    found, expected = ratios_at_exact_halves(wh)
    assert found == expected


def test_the_filter_variables_are_the_filters_the_api_takes(wh):
    counts = [API_FROM, 1, 1, API_FROM, SITE["site"], API_FROM, API_TO]
    for name in generate.FILTERS:
        assert "= 'x-value'" in api_sql("stats_counts_raw.sql", counts, {name: "x-value"}), name
    for name in ("pathname", "referrer_host", "entry_page", "event"):  # columns, and dimensions without a filter
        assert bind_sql("stats_counts_raw.sql", counts, {name: "x"}).returncode != 0, name
    web = generate.web_analytics()
    sql = "\n".join(panel["targets"][0]["rawSql"] for panel in web["panels"])
    assert set(re.findall(r"\$\{(\w+):sqlstring\}", sql)) == {"site", *generate.FILTERS}


def test_recordings_are_counted_per_receive_day(wh):
    columns, data = rows(wh, generate.RECORDINGS_PER_DAY, time_range=RECORDING_DAYS)
    assert [name for name, _ in columns] == ["time", "recordings"]
    assert data == [[FROM, 2], [FROM + DAY, 1]]


def test_completeness_counts_tabs_with_and_without_their_final_chunk(wh):
    columns, data = rows(wh, generate.COMPLETENESS, time_range=RECORDING_DAYS)
    assert columns == [("with_final_chunk", "UInt64"), ("without_final_chunk", "UInt64")]
    assert data == [[2, 1]]


def test_recent_recordings_list_the_fields_the_player_link_needs(wh):
    columns, data = rows(wh, generate.RECENT_RECORDINGS, time_range=RECORDING_DAYS)
    assert [name for name, _ in columns] == ["site", "session_id", "started", "duration_s", "entry_url"]
    assert data == [["a.example", "s3", FROM + DAY + 60, 10, "https://a.example/s3"],
                    ["a.example", "s2", FROM + HOUR, 30, "https://a.example/s2"],
                    ["a.example", "s1", FROM + 60, 60, "https://a.example/s1"]]
    link = generate.PLAYER_LINK["url"]
    assert {field for field in columns_named_in(link)} <= {name for name, _ in columns}


def columns_named_in(url):
    return re.findall(r"\$\{__data\.fields\.(\w+)\}", url)


def test_the_site_variable_lists_every_site(wh):
    columns, data = rows(wh, generate.SITES)
    assert columns == [("site", "String")]
    assert data == [["a.example"], ["b.example"]]


def test_ingested_per_minute_lists_every_minute_with_empty_ones_as_zero(wh):
    columns, data = rows(wh, generate.INGESTED_PER_MINUTE, time_range=(at(FROM + 30), at(FROM + 300)))
    assert [name for name, _ in columns] == ["time", "events"]
    assert columns[0][1].startswith("DateTime") and columns[1][1] == "UInt64"
    # p1 (delivered twice, counted once) and b1 in the second minute, p2 in the third, the engagement g1 in the
    # fourth, q2 in the sixth (the range's last second is in it).
    assert data == [[FROM + 60 * m, n] for m, n in enumerate([0, 2, 1, 1, 0, 1])]


def test_parts_are_counted_per_table_of_the_database(wh):
    wh.query("OPTIMIZE TABLE page_visits FINAL")  # one part per month partition from here on
    months = wh.query("SELECT count(DISTINCT toYYYYMM(timestamp)) FROM page_visits")
    columns, data = rows(wh, generate.PARTS)
    assert columns == [("table", "String"), ("parts", "UInt64")]
    assert ["page_visits", int(months)] in data
    assert [name for name, _ in data] == sorted(name for name, _ in data)


def alert_fires(wh):
    """The provisioned rule's verdict on its query's answer: reduce last, then its threshold."""
    rule = yaml.safe_load((generate.HERE / "provisioning" / "alerting" / "pathlight.yaml").read_text())
    rule = rule["groups"][0]["rules"][0]
    query, _, threshold = rule["data"]
    columns, data = rows(wh, query["model"]["rawSql"])
    assert columns == [("pageviews", "UInt64")]
    if not data:
        return rule["noDataState"] == "Alerting"
    evaluator = threshold["model"]["conditions"][0]["evaluator"]
    assert evaluator["type"] == "lt"
    return data[-1][0] < evaluator["params"][0]


def test_live_panels_and_the_alert_follow_the_newest_page_view(wh):
    # Only old events so far: nobody is on the site, and the pipeline looks stopped.
    assert rows(wh, generate.CURRENT_VISITORS)[1] == [[0]]
    assert alert_fires(wh)
    now = int(time.time())
    wh.insert([visit("live1", "L1", "v7", now - 60, **DESKTOP_CHROME_US),
               visit("live2", "L2", "v8", now - 400, **DESKTOP_CHROME_US),  # before the window
               visit("live3", "L3", "v10", now - 30, kind="event", event_name="signup", **PHONE_FIREFOX_DE)])
    columns, data = rows(wh, generate.CURRENT_VISITORS)
    # Visitors with any event in the window, a custom event too, as the API's realtime report counts them.
    assert columns == [("current_visitors", "UInt64")] and data == [[2]]
    until = int(time.time()) + 1
    [[api_visitors, _]] = api_rows(wh, "stats_realtime.sql", [SITE["site"], until - 301, until])
    assert api_visitors == 2
    # The dashboard's filters apply here too (the API's realtime report takes none).
    assert rows(wh, generate.CURRENT_VISITORS, variables={**SITE, "country": "DE"})[1] == [[1]]
    assert rows(wh, generate.CURRENT_VISITORS, variables={**SITE, "os": "BeOS"})[1] == [[0]]
    assert not alert_fires(wh)
    columns, data = rows(wh, generate.END_TO_END_LAG)
    assert columns == [("lag_seconds", "Int64")]
    # now() is read when the query runs, after `now` above: the lag is at least the newest event's age.
    assert 30 <= data[0][0] < 30 + 600


def test_the_alert_rule_treats_no_data_and_errors_as_alerting():
    rule = yaml.safe_load((generate.HERE / "provisioning" / "alerting" / "pathlight.yaml").read_text())
    rule = rule["groups"][0]["rules"][0]
    assert (rule["noDataState"], rule["execErrState"], rule["condition"]) == ("Alerting", "Alerting", "C")
