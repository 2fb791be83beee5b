#!/usr/bin/env python3
"""The one source of Pathlight's Grafana dashboards and alert rule.

Writes grafana/dashboards/*.json and grafana/provisioning/alerting/pathlight.yaml; never edit those by hand
(tests/grafana regenerates them and fails when they differ). Run: `python3 grafana/generate.py`.

The "Web analytics" dashboard says nothing of its own about what a number means: its filters, filter clauses,
metrics, visit subquery and ratios are read from the reporting model's contract,
analytics-model/contracts/dimensions.json (generated from analytics-model/src/lib.rs, which the stats API's
queries are written from too), so a panel counts what the API counts for the same range and filters.

Every query must run on ClickHouse 18.16 as well as on current ClickHouse, so it uses only the plugin macros
that expand to SQL 18.16 understands ($__timeFilter, $__fromTime/$__toTime, $__interval_s; see
../shared/PLATFORM.md) and buckets time with intDiv instead of $__timeInterval (no toStartOfInterval in 18.16).
Tables are read with FINAL because delivery is at least once (sql/README.md): a redelivered event must not
count twice on a dashboard either.
"""
import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "pathlight-clickhouse"}
# The gateway's /metrics (prometheus-client), scraped by a Prometheus that Grafana reads through this datasource.
PROMETHEUS = {"type": "prometheus", "uid": "pathlight-prometheus"}
SITE = "site = ${site:sqlstring}"
# The plugin's query editor modes: 1 = table, 0 = time series (the SQL editor's "format" field).
TABLE, TIME_SERIES = 1, 0
# Silence that raises the alert: no page view ingested for this many minutes.
QUIET_MINUTES = 10


def bucket(column):
    """The start of the $__interval_s bucket holding `column`, portable to 18.16."""
    return f"toDateTime(intDiv(toUInt32({column}), $__interval_s) * $__interval_s)"


# ---- The reporting model --------------------------------------------------------------------------------------

MODEL_PATH = HERE.parent / "analytics-model" / "contracts" / "dimensions.json"
MODEL = json.loads(MODEL_PATH.read_text())
DIMENSIONS = {dimension["name"]: dimension for dimension in MODEL["dimensions"]}
METRICS = {metric["name"]: metric for metric in MODEL["metrics"]}
FRAGMENTS = MODEL["fragments"]
# The dimensions the API filters by, in the model's order: one dashboard variable each, named by its API name.
FILTERS = tuple(dimension["name"] for dimension in MODEL["dimensions"] if dimension["filterable"])
# The event kinds the stats API counts (the model's counted_kinds): not engagement events, which would otherwise
# add rows of nothing but zeros to a breakdown.
COUNTED_KINDS = FRAGMENTS["counted_kinds"]


def variable(name):
    """A dashboard variable as an SQL string literal (Grafana quotes it and doubles its quotes)."""
    return f"${{{name}:sqlstring}}"


def with_value(condition, name):
    """A model condition with one `?` for the value, the value being the variable `name`."""
    assert condition.count("?") == 1, condition
    return condition.replace("?", variable(name))


def event_filter(name):
    """The condition a filter puts on an event row; an empty variable means any value, as an absent filter does
    in the API."""
    dimension = DIMENSIONS[name]
    return f"({variable(name)} = '' OR {dimension['event_sql']} = {variable(name)})"


def visit_filter(name):
    """The condition a filter puts on a row of the visit subquery: the visit's first event's value, or for
    `page` any of its page views (the model's visit_filter)."""
    return f"({variable(name)} = '' OR {with_value(DIMENSIONS[name]['visit_filter'], name)})"


def metric(name):
    """A counted metric over raw event rows (page_visits FINAL), as the API selects it, named as the model names it."""
    sql = METRICS[name]["raw"]
    assert sql, f"the model has no SQL over raw events for {name}"
    return f"toUInt64({sql}) AS {name}"


def ratio(name):
    """A ratio of the model, over columns named as its metrics (rounded as the API rounds it, safe on 18.16)."""
    return f"{MODEL['ratios'][name]['sql']} AS {name}"


def ratio_units(*names):
    """Grafana's unit of each of the model's ratios named, by column."""
    return {name: MODEL["ratios"][name]["unit"] for name in names}


def indented(text, spaces):
    """`text` with its later lines moved right, to nest a fragment in a subquery."""
    return text.replace("\n", "\n" + " " * spaces)


AND = "\n  AND "
EVENT_FILTERS = "".join(AND + event_filter(name) for name in FILTERS)
VISIT_FILTERS = "".join(AND + visit_filter(name) for name in FILTERS)
# The site's counted events of the range, with the filters. $__timeFilter includes both ends' seconds: Grafana
# ends a range such as "today" at .999 of its last second, so this is the API's [from, to) with `to` the next
# second (for whole days: the API's `from=DAY&to=DAY`).
EVENTS_OF_RANGE = f"{SITE}{EVENT_FILTERS}{AND}$__timeFilter(timestamp){AND}{COUNTED_KINDS}"

# The site's visits, one row each (the model's visit columns over the raw events, as the API computes them for
# a page filter, and with the same numbers as its visit rollup otherwise), read from the range's first day on
# without the visits that had an event the day before, so that a visit begun then is not taken for one starting
# in the range (the model's visit subquery, analytics-model's `visits_of_site`).
VISITS_OF_SITE = f"""(
        SELECT
            session_id,
            {indented(FRAGMENTS['visit_columns.raw'], 4)}
        FROM page_visits FINAL
        WHERE {SITE}
          AND toDate(timestamp) >= toDate($__fromTime)
          AND session_id NOT IN
          (
              SELECT session_id
              FROM page_visits
              WHERE {SITE}
                AND toDate(timestamp) = toDate($__fromTime) - 1
          )
        GROUP BY session_id
    )"""
# Visits (the model's is_visit) whose first event falls in the range's seconds, as EVENTS_OF_RANGE's events do,
# selected by the filters as the API selects visits.
VISITS_OF_RANGE = (f"{FRAGMENTS['is_visit']}"
                   f"{AND}visit_started_ms >= toUInt64(toUInt32($__fromTime)) * 1000"
                   f"{AND}visit_started_ms < (toUInt64(toUInt32($__toTime)) + 1) * 1000"
                   f"{VISIT_FILTERS}")


# ---- Web analytics --------------------------------------------------------------------------------------------

TOP_STATS = f"""SELECT
    {metric('visitors')},
    {metric('pageviews')},
    {metric('custom_events')}
FROM page_visits FINAL
WHERE {EVENTS_OF_RANGE}"""

# The API's aggregate visit numbers: the model's visit metrics over the visits of the range, its ratios over
# them, and the range's page views (event filters) for views per visit, as the API divides them.
VISIT_STATS = f"""SELECT
    visits,
    bounce_rate,
    visit_duration,
    views_per_visit
FROM
(
    SELECT
        {indented(FRAGMENTS['visit_metrics'], 4)},
        (
            SELECT {metric('pageviews')}
            FROM page_visits FINAL
            WHERE {indented(EVENTS_OF_RANGE, 12)}
        ) AS pageviews,
        {ratio('bounce_rate')},
        {ratio('visit_duration')},
        {ratio('views_per_visit')}
    FROM {VISITS_OF_SITE}
    WHERE {indented(VISITS_OF_RANGE, 4)}
)"""

OVER_TIME = f"""SELECT
    {bucket('timestamp')} AS time,
    {metric('visitors')},
    {metric('pageviews')}
FROM page_visits FINAL
WHERE {EVENTS_OF_RANGE}
GROUP BY time
ORDER BY time"""


def breakdown(*names, metrics=("visitors", "pageviews")):
    """Metrics per value of one or more event dimensions (by API name), in the API's breakdown order: most
    visitors first, then most custom events, then by value."""
    values = ",\n    ".join(f"{DIMENSIONS[name]['event_sql']} AS {name}" for name in names)
    counted = ",\n    ".join(metric(name) for name in metrics)
    return f"""SELECT
    {values},
    {counted}
FROM page_visits FINAL
WHERE {EVENTS_OF_RANGE}
GROUP BY {', '.join(names)}
ORDER BY visitors DESC, {METRICS['custom_events']['raw']} DESC, {', '.join(names)}
LIMIT 100"""


SOURCES = breakdown("source", "utm_source", "utm_medium", "utm_campaign", metrics=("visitors",))
REGIONS = breakdown("country", "region", "city")

# The API's breakdown by custom event: events, the visitors who sent them, and those visitors as a share of
# the range's visitors (same filters).
CUSTOM_EVENTS = f"""SELECT
    event,
    custom_events,
    converted_visitors,
    conversion_rate
FROM
(
    SELECT
        {DIMENSIONS['event']['event_sql']} AS event,
        {metric('custom_events')},
        {metric('converted_visitors')},
        (
            SELECT {metric('visitors')}
            FROM page_visits FINAL
            WHERE {indented(EVENTS_OF_RANGE, 12)}
        ) AS visitors,
        {ratio('conversion_rate')}
    FROM page_visits FINAL
    WHERE {indented(EVENTS_OF_RANGE, 4)}
    GROUP BY event
    HAVING custom_events > 0
)
ORDER BY converted_visitors DESC, custom_events DESC, event
LIMIT 100"""

# The realtime report's window whatever the dashboard's range: the API counts [now - window, now + 1).
REALTIME_WINDOW_S = MODEL["realtime_window_s"]
CURRENT_VISITORS = f"""SELECT {metric('current_visitors')}
FROM page_visits FINAL
WHERE {SITE}{EVENT_FILTERS}
  AND timestamp >= now() - {REALTIME_WINDOW_S}
  AND timestamp <= now()"""

SITES = "SELECT DISTINCT site FROM page_visits ORDER BY site"

# ---- Pipeline health ------------------------------------------------------------------------------------------

# Every minute of the range listed, empty ones as 0 (18.16 has no WITH FILL): the minutes come from numbers()
# and the counts are joined onto them, as sql/queries/ingested_per_minute.sql does. All sites. numbers() takes
# only an unsigned count on 18.16 (a difference is Int64 there), hence the toUInt64.
INGESTED_PER_MINUTE = """SELECT
    toDateTime(minute) AS time,
    events
FROM
(
    SELECT toUInt32(intDiv(toUInt32($__fromTime), 60) * 60 + number * 60) AS minute
    FROM numbers(toUInt64(intDiv(toUInt32($__toTime), 60) - intDiv(toUInt32($__fromTime), 60) + 1))
) AS minutes
ANY LEFT JOIN
(
    SELECT
        toUInt32(toStartOfMinute(timestamp)) AS minute,
        toUInt64(uniqExact(event_id)) AS events
    FROM page_visits
    WHERE $__timeFilter(timestamp)
    GROUP BY minute
) AS received USING minute
ORDER BY time"""

# `timestamp` is the edge's receive time, so this is how far behind the warehouse is.
END_TO_END_LAG = """SELECT toInt64(toUInt32(now())) - toInt64(toUInt32(max(timestamp))) AS lag_seconds
FROM page_visits"""

PARTS = """SELECT table, toUInt64(count()) AS parts
FROM system.parts
WHERE active AND database = currentDatabase()
GROUP BY table
ORDER BY table"""

# The gateway's counters (ingest-gateway/src/metrics.rs; prometheus-client adds `_total` to counter names).
# Counts per bucket with increase(), so a panel reads "records refused in this minute", not a per-second rate.
REFUSALS_BY_REASON = "sum by (reason) (increase(gateway_refusals_total[$__rate_interval]))"
REFUSALS_IN_RANGE = "sort_desc(sum by (reason) (increase(gateway_refusals_total[$__range])))"
PRODUCE_FAILURES = "sum by (topic, reason) (increase(gateway_produce_failures_total[$__rate_interval]))"
RECORDS_PRODUCED = "sum by (topic) (increase(gateway_records_produced_total[$__rate_interval]))"
RESPONSES_BY_STATUS = "sum by (status) (increase(gateway_http_responses_total[$__rate_interval]))"

# The worker's own counts never reach ClickHouse or Prometheus: it runs on Cloudflare's edge. Where they are.
WORKER_COUNTS = """The edge worker's counts are not in ClickHouse or Prometheus: it runs on Cloudflare's edge, \
and every count is a **tally**: one JSON log line in Workers Logs, e.g.
`{"tally":"events_dead_lettered","label":"","site":"demo","count":3}`, and, when a Workers Analytics Engine \
dataset is bound as `PATHLIGHT_METRICS` (wrangler.toml), one data point (blob1 tally, blob2 label, index1 site, \
double1 count).

Tallies: `events_accepted`, `requests_rejected` (label: error code), `bot_events_dropped` (label: reason), \
`events_forwarded`, `events_lost` (direct mode), `queue_messages_retried` (label: failure reason), \
`events_dead_lettered` (queue mode), `queue_messages_replayed`.

Totals of the last day, from the Analytics Engine SQL API \
(`POST https://api.cloudflare.com/client/v4/accounts/<account id>/analytics_engine/sql`, \
`Authorization: Bearer <API token with Account Analytics Read>`):

```sql
SELECT blob1 AS tally, blob2 AS label, SUM(_sample_interval * double1) AS total
FROM pathlight_edge WHERE timestamp > NOW() - INTERVAL '1' DAY GROUP BY tally, label ORDER BY tally
```

One isolate's counters: `GET /health` on the worker. See edge-worker/README.md, "Totals across isolates"."""

# The alert's query: page views received in the last QUIET_MINUTES minutes, all sites.
RECENT_PAGEVIEWS = f"""SELECT toUInt64(count()) AS pageviews
FROM page_visits
WHERE kind = 'pageview' AND timestamp >= now() - {QUIET_MINUTES * 60}"""


# ---- Session recordings ---------------------------------------------------------------------------------------

# recording_sessions (sql/007) holds one row per (site, day, session, tab) and insert; its states are merged
# per session here. $__dateFilter reads the `day` key, so only the range's days are read.
RECORDINGS_PER_DAY = f"""SELECT
    toDateTime(day) AS time,
    toUInt64(uniqExact(session_id)) AS recordings
FROM recording_sessions
WHERE {SITE} AND $__dateFilter(day)
GROUP BY day
ORDER BY day"""

# A tab's recording is finished when its final chunk arrived (the 4th field of a chunk's envelope, is_final).
COMPLETENESS = f"""SELECT
    toUInt64(countIf(finished)) AS with_final_chunk,
    toUInt64(countIf(NOT finished)) AS without_final_chunk
FROM
(
    SELECT arrayExists(chunk -> tupleElement(chunk, 4) = 1, groupUniqArrayMerge(chunks)) AS finished
    FROM recording_sessions
    WHERE {SITE} AND $__dateFilter(day)
    GROUP BY session_id, tab_id
)"""

RECENT_RECORDINGS = f"""SELECT
    site,
    session_id,
    toDateTime(intDiv(minMerge(started_ms), 1000)) AS started,
    toUInt64(intDiv(maxMerge(ended_ms) - minMerge(started_ms), 1000)) AS duration_s,
    argMinMerge(entry_url) AS entry_url
FROM recording_sessions
WHERE {SITE} AND $__dateFilter(day)
GROUP BY site, session_id
ORDER BY started DESC, session_id
LIMIT 100"""

# ---- Dashboard model ------------------------------------------------------------------------------------------

def target(sql, fmt):
    return {"datasource": DATASOURCE, "editorType": "sql", "format": fmt, "queryType": "table" if fmt == TABLE
            else "timeseries", "rawSql": sql, "refId": "A"}


def prometheus_panel(panel_id, title, kind, expr, legend, grid, instant=False):
    """A panel on the gateway's metrics; `legend` names each series by its labels."""
    x, y, w, h = grid
    query = {"datasource": PROMETHEUS, "expr": expr, "legendFormat": legend, "refId": "A",
             "range": not instant, "instant": instant}
    return {"id": panel_id, "type": kind, "title": title, "datasource": PROMETHEUS,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": [query],
            "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []}, "options": {}}


def text_panel(panel_id, title, markdown, grid):
    x, y, w, h = grid
    return {"id": panel_id, "type": "text", "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "options": {"mode": "markdown", "content": markdown}}


def panel(panel_id, title, kind, sql, fmt, grid, unit=None, units=None, description=None):
    """A ClickHouse panel; `unit` for all its fields, `units` per column name."""
    x, y, w, h = grid
    defaults = {"unit": unit} if unit else {}
    overrides = [{"matcher": {"id": "byName", "options": column}, "properties": [{"id": "unit", "value": value}]}
                 for column, value in (units or {}).items()]
    extra = {"description": description} if description else {}
    return {"id": panel_id, "type": kind, "title": title, **extra, "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": [target(sql, fmt)],
            "fieldConfig": {"defaults": defaults, "overrides": overrides}, "options": {}}


def definitions(*names):
    """The model's words for what its metrics count, for a panel's description."""
    return "\n\n".join(f"**{METRICS[name]['label']}**: {METRICS[name]['definition']}." for name in names)


# Countries on a world map: the `country` column holds ISO 3166-1 alpha-2 codes, which Grafana's countries
# gazetteer looks up.
GEOMAP_OPTIONS = {"view": {"id": "zero", "zoom": 1}, "controls": {"showZoom": True},
                  "layers": [{"type": "markers", "name": "Visitors", "location": {
                      "mode": "lookup", "lookup": "country", "gazetteer": "public/gazetteer/countries.json"},
                      "config": {"size": {"field": "visitors", "min": 2, "max": 20}}}]}


def dashboard(uid, title, panels, templating, description=None):
    extra = {"description": description} if description else {}
    return {**extra, "uid": uid, "title": title, "tags": ["pathlight"], "timezone": "utc", "schemaVersion": 39,
            "version": 1, "editable": False, "time": {"from": "now-24h", "to": "now"}, "refresh": "1m",
            "templating": {"list": templating}, "annotations": {"list": []}, "panels": panels}


SITE_VARIABLE = {"name": "site", "label": "Site", "type": "query", "datasource": DATASOURCE, "query": SITES,
                 "refresh": 1, "sort": 1, "multi": False, "includeAll": False}


# One textbox per filterable dimension of the model, named as the API's filter and labelled as the model labels
# it; empty means any value, as an absent filter does in the API.
FILTER_VARIABLES = [{"name": name, "label": DIMENSIONS[name]["label"], "type": "textbox", "query": "",
                     "current": {"text": "", "value": ""}} for name in FILTERS]

VISIT_DESCRIPTION = (definitions("visits", "bounces", "duration_ms") + "\n\nBounce rate: bounces per 100 visits; "
                     "visit duration: the mean of the visits' times, in seconds; views per visit: the range's page "
                     "views per visit. A filter selects visits by their first event, and `page` by any of their "
                     "page views, as in the stats API.")


def web_analytics():
    panels = [
        panel(1, "Visitors, page views, custom events", "stat", TOP_STATS, TABLE, (0, 0, 9, 4),
              description=definitions("visitors", "pageviews", "custom_events")),
        panel(13, "Visits, bounce rate, visit duration, views per visit", "stat", VISIT_STATS, TABLE,
              (9, 0, 10, 4), units=ratio_units("bounce_rate", "visit_duration"), description=VISIT_DESCRIPTION),
        panel(2, f"Current visitors (last {REALTIME_WINDOW_S // 60} minutes)", "stat", CURRENT_VISITORS, TABLE,
              (19, 0, 5, 4), description=definitions("current_visitors")),
        panel(3, "Visitors and page views", "timeseries", OVER_TIME, TIME_SERIES, (0, 4, 24, 8)),
        panel(4, "Pages", "table", breakdown("page"), TABLE, (0, 12, 12, 9)),
        panel(5, "Sources and UTM", "table", SOURCES, TABLE, (12, 12, 12, 9)),
        panel(6, "Countries", "table", breakdown("country"), TABLE, (0, 21, 8, 9)),
        panel(7, "Browsers", "barchart", breakdown("browser"), TABLE, (8, 21, 8, 9)),
        panel(8, "Devices", "piechart", breakdown("device"), TABLE, (16, 21, 8, 9)),
        {**panel(9, "Countries on a map", "geomap", breakdown("country"), TABLE, (0, 30, 12, 10)),
         "options": GEOMAP_OPTIONS},
        panel(10, "Regions and cities", "table", REGIONS, TABLE, (12, 30, 12, 10)),
        panel(11, "Operating systems", "piechart", breakdown("os"), TABLE, (0, 40, 8, 9)),
        panel(12, "Custom events", "table", CUSTOM_EVENTS, TABLE, (8, 40, 16, 9), units=ratio_units("conversion_rate"),
              description=definitions("custom_events", "converted_visitors") + "\n\nConversion rate: converted "
              "visitors per 100 visitors of the range (same filters)."),
    ]
    return dashboard("pathlight-web-analytics", "Web analytics", panels, [SITE_VARIABLE, *FILTER_VARIABLES])


PIPELINE_DESCRIPTION = ("Ingestion in ClickHouse (events per minute, lag, parts); the gateway's refusals, broker "
                        "failures and produced records from its /metrics through Prometheus (empty where the worker "
                        "produces to Redpanda's own proxy instead of the gateway); the edge worker's rejected, lost "
                        "and dead-lettered counts are tallies in Workers Logs and Workers Analytics Engine, "
                        "not here: the text panel says where and how to query them.")


def pipeline_health():
    panels = [
        panel(1, "Events ingested per minute", "timeseries", INGESTED_PER_MINUTE, TIME_SERIES, (0, 0, 24, 8)),
        panel(2, "End-to-end lag (now minus newest event's receive time)", "stat", END_TO_END_LAG, TABLE,
              (0, 8, 12, 5), unit="s"),
        panel(3, "Active parts per table", "table", PARTS, TABLE, (12, 8, 12, 5)),
        prometheus_panel(4, "Gateway: requests refused, by reason", "timeseries", REFUSALS_BY_REASON, "{{reason}}",
                         (0, 13, 16, 8)),
        prometheus_panel(5, "Gateway: refused in the range, by reason", "bargauge", REFUSALS_IN_RANGE, "{{reason}}",
                         (16, 13, 8, 8), instant=True),
        prometheus_panel(6, "Gateway: records the broker did not take (error code in an HTTP 200)", "timeseries",
                         PRODUCE_FAILURES, "{{topic}} {{reason}}", (0, 21, 12, 8)),
        prometheus_panel(7, "Gateway: records produced, by topic", "timeseries", RECORDS_PRODUCED, "{{topic}}",
                         (12, 21, 12, 8)),
        prometheus_panel(8, "Gateway: responses, by HTTP status", "timeseries", RESPONSES_BY_STATUS, "{{status}}",
                         (0, 29, 12, 8)),
        text_panel(9, "Edge worker: rejected, lost and dead-lettered events (not in this Grafana)", WORKER_COUNTS,
                   (12, 29, 12, 14)),
    ]
    return dashboard("pathlight-pipeline-health", "Pipeline health", panels, [], description=PIPELINE_DESCRIPTION)


# Where the gateway serves the replay (README, "Session recording and replay"); a user sets their own.
GATEWAY_URL_VARIABLE = {"name": "gateway_url", "label": "Gateway URL", "type": "textbox",
                        "query": "http://127.0.0.1:18082",
                        "current": {"text": "http://127.0.0.1:18082", "value": "http://127.0.0.1:18082"}}
PLAYER_LINK = {"title": "Play this recording",
               "url": "${gateway_url}/replay/sessions/${__data.fields.site}/${__data.fields.session_id}",
               "targetBlank": True}


def session_recordings():
    recent = panel(3, "Recent recordings (session id opens the gateway's player)", "table", RECENT_RECORDINGS, TABLE,
                   (0, 8, 24, 12))
    recent["fieldConfig"]["overrides"] = [{"matcher": {"id": "byName", "options": "session_id"},
                                           "properties": [{"id": "links", "value": [PLAYER_LINK]}]}]
    panels = [
        panel(1, "Recordings per day", "timeseries", RECORDINGS_PER_DAY, TIME_SERIES, (0, 0, 16, 8)),
        panel(2, "Completeness (tabs with and without their final chunk)", "stat", COMPLETENESS, TABLE,
              (16, 0, 8, 8)),
        recent,
    ]
    return dashboard("pathlight-session-recordings", "Session recordings", panels,
                     [SITE_VARIABLE, GATEWAY_URL_VARIABLE])


def alert_rules():
    """Grafana's file-provisioned alerting: the query, its last value, and a threshold; NoData alerts too,
    because an empty answer is what a dead pipeline looks like."""
    query = {"refId": "A", "datasourceUid": DATASOURCE["uid"], "relativeTimeRange": {"from": QUIET_MINUTES * 60,
             "to": 0}, "model": {"refId": "A", "datasource": DATASOURCE, "editorType": "sql", "format": TABLE,
                                 "queryType": "table", "rawSql": RECENT_PAGEVIEWS}}
    reduce = {"refId": "B", "datasourceUid": "__expr__", "model": {"refId": "B", "type": "reduce", "expression": "A",
                                                                    "reducer": "last"}}
    threshold = {"refId": "C", "datasourceUid": "__expr__", "model": {
        "refId": "C", "type": "threshold", "expression": "B",
        "conditions": [{"evaluator": {"type": "lt", "params": [1]}}]}}
    rule = {"uid": "pathlight-no-pageviews", "title": f"No page views ingested for {QUIET_MINUTES} minutes",
            "condition": "C", "data": [query, reduce, threshold], "noDataState": "Alerting",
            "execErrState": "Alerting", "for": "0s",
            "annotations": {"summary": f"No page view reached ClickHouse in the last {QUIET_MINUTES} minutes: "
                                       "check the worker, the broker and the Kafka-engine consumer."},
            "labels": {"service": "pathlight"}}
    return {"apiVersion": 1, "groups": [{"orgId": 1, "name": "pathlight-ingestion", "folder": "Pathlight",
                                         "interval": "1m", "rules": [rule]}]}


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings (the SQL) as literal blocks, so the YAML reads like the query."""


_LiteralDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def outputs():
    """Every generated file, path relative to grafana/ -> its exact text."""
    files = {f"dashboards/{name}.json": json.dumps(model, indent=2, sort_keys=True) + "\n"
             for name, model in (("web-analytics", web_analytics()), ("pipeline-health", pipeline_health()),
                                 ("session-recordings", session_recordings()))}
    header = "# Generated by grafana/generate.py: edit that file and rerun it, not this one.\n"
    rules = yaml.dump(alert_rules(), Dumper=_LiteralDumper, sort_keys=False, width=120)
    files["provisioning/alerting/pathlight.yaml"] = header + rules
    return files


def main():
    for relative, text in outputs().items():
        (HERE / relative).write_text(text)
        print(f"wrote grafana/{relative}")


if __name__ == "__main__":
    main()
