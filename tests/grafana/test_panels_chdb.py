"""Every panel's and the alert's SQL, expanded as the plugin would, runs on current ClickHouse (chDB) over
seeded events and answers exact numbers under the column names its panel reads."""
import calendar
import json
import re
import time

import pytest
import yaml

import generate
from plugin_macros import at, expand
from test_chdb import FROM, Warehouse, event, migrations_as_the_gateway_sends_them

HOUR = 3600
RANGE = (at(FROM), at(FROM + 3 * HOUR))  # the plugin's $__timeFilter includes both ends
SITE = {"site": "a.example", **{name: "" for name in generate.FILTERS}}


def visit(event_id, visitor, ts, pathname="/", kind="pageview", site="a.example", **fields):
    return {**event(event_id, "", visitor, ts=ts, kind=kind, site=site), "pathname": pathname, **fields}


DESKTOP_CHROME_US = {"browser": "Chrome", "os": "Windows", "device": "desktop", "country": "US", "region": "California",
                     "city": "San Francisco"}
PHONE_FIREFOX_DE = {"browser": "Firefox", "os": "Android", "device": "smartphone", "country": "DE", "region": "Berlin",
                    "city": "Berlin"}
FIRST = visit("p1", "v1", FROM + 60, referrer_host="news.example", **DESKTOP_CHROME_US)
HISTORY = [
    FIRST,
    visit("p2", "v1", FROM + 120, "/pricing", **DESKTOP_CHROME_US),
    visit("p3", "v2", FROM + HOUR + 60, referrer_host="news.example", utm_source="mail", **PHONE_FIREFOX_DE),
    visit("e1", "v2", FROM + HOUR + 120, kind="event", event_name="signup", **PHONE_FIREFOX_DE),
    visit("p4", "v3", FROM + 2 * HOUR, browser="Chrome", os="iOS", device="smartphone", country="FR"),
    visit("b1", "v9", FROM + 60, site="b.example", **DESKTOP_CHROME_US),       # another site
    visit("late", "v4", FROM + 4 * HOUR, **DESKTOP_CHROME_US),                 # after the range
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
    for migration in migrations_as_the_gateway_sends_them():
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


def test_top_stats_count_distinct_visitors_page_views_and_custom_events_of_the_site(wh):
    columns, data = rows(wh, generate.TOP_STATS)
    assert columns == [("visitors", "UInt64"), ("pageviews", "UInt64"), ("custom_events", "UInt64")]
    assert data == [[3, 4, 1]]


@pytest.mark.parametrize("filters, expected", [
    ({"country": "US"}, [[1, 2, 0]]),
    ({"device": "smartphone"}, [[2, 2, 1]]),
    ({"device": "smartphone", "browser": "Firefox"}, [[1, 1, 1]]),
    ({"pathname": "/pricing"}, [[1, 1, 0]]),
    ({"os": "BeOS"}, [[0, 0, 0]]),
])
def test_the_filters_narrow_the_top_stats_to_matching_events(wh, filters, expected):
    assert rows(wh, generate.TOP_STATS, variables={**SITE, **filters})[1] == expected


def test_visitors_and_page_views_over_time_come_in_interval_buckets_with_a_time_column(wh):
    columns, data = rows(wh, generate.OVER_TIME)
    assert [name for name, _ in columns] == ["time", "visitors", "pageviews"]
    assert columns[0][1].startswith("DateTime")
    assert data == [[FROM, 1, 2], [FROM + HOUR, 1, 1], [FROM + 2 * HOUR, 1, 1]]


def test_the_buckets_follow_the_dashboard_interval(wh):
    _, data = rows(wh, generate.OVER_TIME, interval_s=2 * HOUR)
    assert data == [[FROM, 2, 3], [FROM + 2 * HOUR, 1, 1]]


@pytest.mark.parametrize("column, label, expected", [
    ("pathname", "page", [["/", 3, 3], ["/pricing", 1, 1]]),
    ("country", "country", [["US", 1, 2], ["DE", 1, 1], ["FR", 1, 1]]),
    ("browser", "browser", [["Chrome", 2, 3], ["Firefox", 1, 1]]),
    ("device", "device", [["smartphone", 2, 2], ["desktop", 1, 2]]),
    ("os", "os", [["Windows", 1, 2], ["Android", 1, 1], ["iOS", 1, 1]]),
])
def test_breakdowns_rank_values_by_visitors_of_page_views(wh, column, label, expected):
    columns, data = rows(wh, generate.breakdown(column, label))
    assert columns == [(label, "String"), ("visitors", "UInt64"), ("pageviews", "UInt64")]
    assert data == expected


def test_sources_split_referrers_by_utm_tags(wh):
    columns, data = rows(wh, generate.SOURCES)
    assert [name for name, _ in columns] == ["source", "utm_source", "utm_medium", "utm_campaign", "visitors"]
    assert data == [["", "", "", "", 2], ["news.example", "", "", "", 1], ["news.example", "mail", "", "", 1]]


def test_regions_and_cities_come_with_their_country(wh):
    columns, data = rows(wh, generate.REGIONS)
    assert [name for name, _ in columns] == ["country", "region", "city", "visitors", "pageviews"]
    assert data == [["US", "California", "San Francisco", 1, 2], ["DE", "Berlin", "Berlin", 1, 1], ["FR", "", "", 1, 1]]


def test_custom_events_are_counted_by_name_without_page_views(wh):
    columns, data = rows(wh, generate.CUSTOM_EVENTS)
    assert columns == [("event_name", "String"), ("events", "UInt64"), ("visitors", "UInt64")]
    assert data == [["signup", 1, 1]]


def test_the_world_map_looks_countries_up_by_the_column_its_query_answers(wh):
    web = generate.web_analytics()
    geomap = next(panel for panel in web["panels"] if panel["type"] == "geomap")
    columns, _ = rows(wh, geomap["targets"][0]["rawSql"])
    location = geomap["options"]["layers"][0]["location"]
    assert location["lookup"] in [name for name, _ in columns]
    assert geomap["options"]["layers"][0]["config"]["size"]["field"] in [name for name, _ in columns]


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
    # p1 (delivered twice, counted once) and b1 in the second minute, p2 in the third.
    assert data == [[FROM + 60 * m, n] for m, n in enumerate([0, 2, 1, 0, 0, 0])]


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
    wh.insert([visit("live1", "v7", now - 60), visit("live2", "v8", now - 400)])
    columns, data = rows(wh, generate.CURRENT_VISITORS)
    assert columns == [("current_visitors", "UInt64")] and data == [[1]]
    assert not alert_fires(wh)
    columns, data = rows(wh, generate.END_TO_END_LAG)
    assert columns == [("lag_seconds", "Int64")]
    # now() is read when the query runs, after `now` above: the lag is at least the event's age.
    assert 60 <= data[0][0] < 60 + 600


def test_the_alert_rule_treats_no_data_and_errors_as_alerting():
    rule = yaml.safe_load((generate.HERE / "provisioning" / "alerting" / "pathlight.yaml").read_text())
    rule = rule["groups"][0]["rules"][0]
    assert (rule["noDataState"], rule["execErrState"], rule["condition"]) == ("Alerting", "Alerting", "C")
