#!/usr/bin/env python3
"""The one source of Pathlight's Grafana dashboards and alert rule.

Writes grafana/dashboards/*.json and grafana/provisioning/alerting/pathlight.yaml; never edit those by hand
(tests/grafana regenerates them and fails when they differ). Run: `python3 grafana/generate.py`.

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
# Equality filters of the web dashboard, textbox variables where empty means any (as in the stats API).
FILTERS = ("country", "device", "browser", "os", "pathname")
SITE_AND_FILTERS = SITE + "".join(f"\n  AND (${{{name}:sqlstring}} = '' OR {name} = ${{{name}:sqlstring}})"
                                  for name in FILTERS)
# The plugin's query editor modes: 1 = table, 0 = time series (the SQL editor's "format" field).
TABLE, TIME_SERIES = 1, 0
# Silence that raises the alert: no page view ingested for this many minutes.
QUIET_MINUTES = 10


def bucket(column):
    """The start of the $__interval_s bucket holding `column`, portable to 18.16."""
    return f"toDateTime(intDiv(toUInt32({column}), $__interval_s) * $__interval_s)"


# ---- Web analytics --------------------------------------------------------------------------------------------

TOP_STATS = f"""SELECT
    toUInt64(uniqExact(visitor_id)) AS visitors,
    toUInt64(countIf(kind = 'pageview')) AS pageviews,
    toUInt64(countIf(kind = 'event')) AS custom_events
FROM page_visits FINAL
WHERE {SITE_AND_FILTERS} AND $__timeFilter(timestamp)"""

OVER_TIME = f"""SELECT
    {bucket('timestamp')} AS time,
    toUInt64(uniqExact(visitor_id)) AS visitors,
    toUInt64(countIf(kind = 'pageview')) AS pageviews
FROM page_visits FINAL
WHERE {SITE_AND_FILTERS} AND $__timeFilter(timestamp)
GROUP BY time
ORDER BY time"""


def breakdown(column, label):
    """Visitors and page views per value of a page_visits column, most visitors first."""
    return f"""SELECT
    {column} AS {label},
    toUInt64(uniqExact(visitor_id)) AS visitors,
    toUInt64(count()) AS pageviews
FROM page_visits FINAL
WHERE {SITE_AND_FILTERS} AND $__timeFilter(timestamp) AND kind = 'pageview'
GROUP BY {label}
ORDER BY visitors DESC, pageviews DESC, {label}
LIMIT 100"""


SOURCES = f"""SELECT
    referrer_host AS source,
    utm_source,
    utm_medium,
    utm_campaign,
    toUInt64(uniqExact(visitor_id)) AS visitors
FROM page_visits FINAL
WHERE {SITE_AND_FILTERS} AND $__timeFilter(timestamp) AND kind = 'pageview'
GROUP BY source, utm_source, utm_medium, utm_campaign
ORDER BY visitors DESC, source, utm_source, utm_medium, utm_campaign
LIMIT 100"""

REGIONS = f"""SELECT
    country,
    region,
    city,
    toUInt64(uniqExact(visitor_id)) AS visitors,
    toUInt64(count()) AS pageviews
FROM page_visits FINAL
WHERE {SITE_AND_FILTERS} AND $__timeFilter(timestamp) AND kind = 'pageview'
GROUP BY country, region, city
ORDER BY visitors DESC, pageviews DESC, country, region, city
LIMIT 100"""

CUSTOM_EVENTS = f"""SELECT
    event_name,
    toUInt64(count()) AS events,
    toUInt64(uniqExact(visitor_id)) AS visitors
FROM page_visits FINAL
WHERE {SITE_AND_FILTERS} AND $__timeFilter(timestamp) AND kind = 'event'
GROUP BY event_name
ORDER BY events DESC, event_name
LIMIT 100"""

# The last five minutes whatever the dashboard's range, as the gateway's realtime report counts them.
CURRENT_VISITORS = f"""SELECT toUInt64(uniqExact(visitor_id)) AS current_visitors
FROM page_visits FINAL
WHERE {SITE_AND_FILTERS} AND timestamp >= now() - 300"""

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


def panel(panel_id, title, kind, sql, fmt, grid, unit=None):
    x, y, w, h = grid
    defaults = {"unit": unit} if unit else {}
    return {"id": panel_id, "type": kind, "title": title, "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": [target(sql, fmt)],
            "fieldConfig": {"defaults": defaults, "overrides": []}, "options": {}}


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


FILTER_VARIABLES = [{"name": name, "label": name, "type": "textbox", "query": "", "current": {"text": "", "value": ""}}
                    for name in FILTERS]


def web_analytics():
    panels = [
        panel(1, "Visitors, page views, custom events", "stat", TOP_STATS, TABLE, (0, 0, 18, 4)),
        panel(2, "Current visitors (last 5 minutes)", "stat", CURRENT_VISITORS, TABLE, (18, 0, 6, 4)),
        panel(3, "Visitors and page views", "timeseries", OVER_TIME, TIME_SERIES, (0, 4, 24, 8)),
        panel(4, "Pages", "table", breakdown("pathname", "page"), TABLE, (0, 12, 12, 9)),
        panel(5, "Sources and UTM", "table", SOURCES, TABLE, (12, 12, 12, 9)),
        panel(6, "Countries", "table", breakdown("country", "country"), TABLE, (0, 21, 8, 9)),
        panel(7, "Browsers", "barchart", breakdown("browser", "browser"), TABLE, (8, 21, 8, 9)),
        panel(8, "Devices", "piechart", breakdown("device", "device"), TABLE, (16, 21, 8, 9)),
        {**panel(9, "Countries on a map", "geomap", breakdown("country", "country"), TABLE, (0, 30, 12, 10)),
         "options": GEOMAP_OPTIONS},
        panel(10, "Regions and cities", "table", REGIONS, TABLE, (12, 30, 12, 10)),
        panel(11, "Operating systems", "piechart", breakdown("os", "os"), TABLE, (0, 40, 8, 9)),
        panel(12, "Custom events", "table", CUSTOM_EVENTS, TABLE, (8, 40, 16, 9)),
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
