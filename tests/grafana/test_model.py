"""The web dashboard is written from the reporting model's contract (analytics-model/contracts/dimensions.json),
not from definitions of its own: its filter variables are exactly the contract's filterable dimensions, every
panel applies every filter as the model writes it, and its numbers are the model's metric, visit and ratio SQL.
Read from the generated dashboard file, so what Grafana loads is what is checked."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = json.loads((ROOT / "analytics-model" / "contracts" / "dimensions.json").read_text())
WEB = json.loads((ROOT / "grafana" / "dashboards" / "web-analytics.json").read_text())
FILTERABLE = [dimension for dimension in CONTRACT["dimensions"] if dimension["filterable"]]
METRICS = {metric["name"]: metric for metric in CONTRACT["metrics"]}


def panel_sql(title_start):
    [panel] = [panel for panel in WEB["panels"] if panel["title"].startswith(title_start)]
    return panel["targets"][0]["rawSql"]


def every_panel_sql():
    return [(panel["title"], panel["targets"][0]["rawSql"]) for panel in WEB["panels"]]


def value(name):
    return f"${{{name}:sqlstring}}"


def test_the_filter_variables_are_exactly_the_contracts_filterable_dimensions():
    site, *filters = WEB["templating"]["list"]
    assert site["name"] == "site"
    assert [(v["name"], v["label"]) for v in filters] == [(d["name"], d["label"]) for d in FILTERABLE]
    for variable in filters:
        # A textbox, empty by default: no filter until one is typed, as in the API.
        assert (variable["type"], variable["query"], variable["current"]) == ("textbox", "", {"text": "", "value": ""})


def test_the_old_column_named_filters_are_gone():
    names = {variable["name"] for variable in WEB["templating"]["list"]}
    assert not names & {"pathname", "referrer_host"}
    for title, sql in every_panel_sql():
        assert "${pathname" not in sql, title


@pytest.mark.parametrize("dimension", FILTERABLE, ids=lambda d: d["name"])
def test_every_panel_applies_every_filter_as_the_model_writes_it(dimension):
    name = dimension["name"]
    on_events = f"({value(name)} = '' OR {dimension['event_sql']} = {value(name)})"
    on_visits = f"({value(name)} = '' OR {dimension['visit_filter'].replace('?', value(name))})"
    for title, sql in every_panel_sql():
        assert on_events in sql, (title, name)
    assert on_visits in panel_sql("Visits, bounce rate")


def test_screen_class_is_filtered_by_the_models_expression_of_the_width():
    screen = next(d for d in FILTERABLE if d["name"] == "screen_class")
    assert screen["event_sql"] == CONTRACT["screen_class_sql"]
    assert f"{CONTRACT['screen_class_sql']} = {value('screen_class')}" in panel_sql("Visitors, page views")


def test_the_counted_numbers_are_the_models_metrics():
    top = panel_sql("Visitors, page views, custom events")
    for name in ("visitors", "pageviews", "custom_events"):
        assert f"toUInt64({METRICS[name]['raw']}) AS {name}" in top, name
    # The issue this model fixed: visitors are counted among page views everywhere but "current visitors".
    for title, sql in every_panel_sql():
        if not title.startswith("Current visitors"):
            assert "uniqExact(visitor_id)" not in sql, title
    current = panel_sql("Current visitors")
    assert f"toUInt64({METRICS['current_visitors']['raw']}) AS current_visitors" in current
    assert f"timestamp >= now() - {CONTRACT['realtime_window_s']}" in current
    assert f"last {CONTRACT['realtime_window_s'] // 60} minutes" in next(
        panel["title"] for panel in WEB["panels"] if panel["title"].startswith("Current visitors"))


def test_the_visit_panel_is_the_models_visit_subquery_metrics_and_ratios():
    sql = panel_sql("Visits, bounce rate")
    fragments = CONTRACT["fragments"]
    indent = lambda text, spaces: text.replace("\n", "\n" + " " * spaces)  # noqa: E731 - as the generator nests it
    assert indent(fragments["visit_columns.raw"], 4) in sql
    assert "FROM page_visits FINAL" in sql and "GROUP BY session_id" in sql
    assert indent(fragments["visit_metrics"], 4) in sql
    assert f"WHERE {fragments['is_visit']}" in sql
    for name in ("bounce_rate", "visit_duration", "views_per_visit"):
        assert f"{CONTRACT['ratios'][name]['sql']} AS {name}" in sql, name
    assert f"{CONTRACT['ratios']['conversion_rate']['sql']} AS conversion_rate" in panel_sql("Custom events")


def test_every_panel_counting_visitors_counts_them_among_page_views_of_the_counted_kinds():
    counting = [(title, sql) for title, sql in every_panel_sql() if " AS visitors" in sql]
    assert len(counting) >= 10
    for title, sql in counting:
        assert f"toUInt64({METRICS['visitors']['raw']}) AS visitors" in sql, title
        assert "kind IN ('pageview', 'event')" in sql, title
