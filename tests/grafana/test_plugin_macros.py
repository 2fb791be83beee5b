"""The macro expander reproduces grafana-clickhouse-datasource's own expansions (its pkg/macros tests, v4),
so the SQL the other tests run is the SQL the plugin would send."""
from datetime import datetime, timezone

import pytest

import generate
from plugin_macros import MacroError, NOT_ON_18_16, expand, expand_macros

FROM = datetime(2014, 11, 12, 11, 45, 26, 371000, tzinfo=timezone.utc)
TO = datetime(2015, 11, 12, 11, 45, 26, 371000, tzinfo=timezone.utc)
FROM_123 = datetime(2014, 11, 12, 11, 45, 26, 123000, tzinfo=timezone.utc)
TO_456 = datetime(2015, 11, 12, 11, 45, 26, 456000, tzinfo=timezone.utc)


@pytest.mark.parametrize("sql, expected", [
    ("$__fromTime", "toDateTime(1415792726)"),
    ("$__toTime", "toDateTime(1447328726)"),
    ("$__fromTime_ms", "fromUnixTimestamp64Milli(1415792726371)"),
    ("$__toTime_ms", "fromUnixTimestamp64Milli(1447328726371)"),
    ("$__dateFilter(dateCol)", "dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')"),
    ("$__dateTimeFilter(dateCol, timeCol)",
     "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND "
     "(timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))"),
])
def test_time_range_macros_expand_as_the_plugin_expands_them(sql, expected):
    assert expand_macros(sql, FROM, TO) == expected


@pytest.mark.parametrize("sql, expected", [
    ("select $__timeInterval(col) from foo", "select toStartOfInterval(toDateTime(col), INTERVAL 20 second) from foo"),
    ("select $__timeInterval_ms(col) from foo",
     "select toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond) from foo"),
    ("select toStartOfInterval(col, INTERVAL $__interval_s second) AS time from foo",
     "select toStartOfInterval(col, INTERVAL 20 second) AS time from foo"),
])
def test_interval_macros_expand_with_the_query_interval(sql, expected):
    assert expand_macros(sql, FROM, TO, interval_s=20) == expected


def test_an_interval_under_a_second_counts_as_one_second():
    assert expand_macros("$__interval_s", FROM, TO, interval_s=0.2) == "1"


@pytest.mark.parametrize("sql, expected", [
    ("select * from foo where $__timeFilter(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= "
     "toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter(cast(sth as timestamp) )",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= "
     "toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter_ms(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND "
     "cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)"),
    ("select * from foo where ( date >= $__fromTime and date <= $__toTime ) limit 100",
     "select * from foo where ( date >= toDateTime(1415792726) and date <= toDateTime(1447328726) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100",
     "select * from foo where ( date >= toDateTime(1415792726) ) and ( date <= toDateTime(1447328726) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime_ms and date <= $__toTime_ms ) limit 100",
     "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) and date <= "
     "fromUnixTimestamp64Milli(1447328726456) ) limit 100"),
])
def test_macros_inside_whole_queries_expand_in_place(sql, expected):
    assert expand_macros(sql, FROM_123, TO_456) == expected


def test_a_filter_macro_without_its_column_is_refused():
    with pytest.raises(MacroError, match="expected 1 argument"):
        expand_macros("select 1 where $__timeFilter()", FROM, TO)


def test_an_unknown_macro_is_refused_rather_than_sent():
    with pytest.raises(MacroError, match="not a macro"):
        expand_macros("select $__nonsense(ts)", FROM, TO)


def test_a_site_variable_is_quoted_as_an_sql_string():
    assert expand("site = ${site:sqlstring}", FROM, TO, variables={"site": "o'neil.example"}) == \
        "site = 'o''neil.example'"


def test_the_macros_that_fail_on_18_16_are_known():
    assert {"timeInterval", "timeInterval_ms", "timeFilter_ms"} <= NOT_ON_18_16


def test_a_filter_variable_is_filled_everywhere_it_is_used():
    clause = "(${page:sqlstring} = '' OR has(visit_pathname_values, ${page:sqlstring}))"
    assert expand(clause, FROM, TO, variables={"page": "/o'neil"}) == \
        "('/o''neil' = '' OR has(visit_pathname_values, '/o''neil'))"


def test_a_visit_range_reads_the_whole_seconds_of_the_time_range():
    sql = ("visit_started_ms >= toUInt64(toUInt32($__fromTime)) * 1000 "
           "AND visit_started_ms < (toUInt64(toUInt32($__toTime)) + 1) * 1000")
    assert expand_macros(sql, FROM_123, TO_456) == (
        "visit_started_ms >= toUInt64(toUInt32(toDateTime(1415792726))) * 1000 "
        "AND visit_started_ms < (toUInt64(toUInt32(toDateTime(1447328726))) + 1) * 1000")


def test_every_web_panel_is_left_with_no_variable_or_macro_once_expanded():
    variables = {"site": "a.example", **{name: "" for name in generate.FILTERS}}
    for panel in generate.web_analytics()["panels"]:
        expanded = expand(panel["targets"][0]["rawSql"], FROM, TO, interval_s=60, variables=variables)
        assert "$" not in expanded, panel["title"]
