"""The panel and alert tests of test_panels_chdb.py again, on ClickHouse 18.16 (the local stack's server) over
HTTP: the same expanded SQL, seeds and exact answers, and the same comparison with the stats API's queries (run
there too, as the gateway runs them on its 18.16). Runs when CLICKHOUSE_URL names a running server (e.g. a
private stack: `source scripts/env.sh; use_private_stack NAME DIGIT; scripts/stack.sh start clickhouse`), in a
database of its own that it drops afterwards (it has no Kafka tables, so dropping it is safe on 18.16); skipped
when CLICKHOUSE_URL is unset, failed when it names no reachable 18.16."""
import json
import re
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import pytest

from test_chdb import as_migrate_creates
from test_panels_chdb import (  # noqa: F401 - collected here again, against this module's `wh`
    ratios_at_exact_halves,
    seed,
    test_breakdowns_rank_values_by_visitors_among_page_views,
    test_completeness_counts_tabs_with_and_without_their_final_chunk,
    test_custom_events_are_counted_by_name_with_their_conversion_rate,
    test_ingested_per_minute_lists_every_minute_with_empty_ones_as_zero,
    test_live_panels_and_the_alert_follow_the_newest_page_view,
    test_parts_are_counted_per_table_of_the_database,
    test_recent_recordings_list_the_fields_the_player_link_needs,
    test_recordings_are_counted_per_receive_day,
    test_regions_and_cities_come_with_their_country,
    test_sources_split_referrers_by_utm_tags,
    test_the_breakdowns_are_the_api_breakdowns,
    test_the_buckets_follow_the_dashboard_interval,
    test_the_filters_select_events_and_visits_as_the_api_does,
    test_the_site_variable_lists_every_site,
    test_the_top_numbers_are_the_api_aggregates,
    test_the_visit_panel_counts_visits_begun_in_the_range_with_the_models_ratios,
    test_the_world_map_looks_countries_up_by_the_column_its_query_answers,
    test_top_stats_count_visitors_among_page_views_page_views_and_custom_events_of_the_site,
    test_visitors_and_page_views_over_time_come_in_interval_buckets_with_a_time_column,
)

URL = os.environ.get("CLICKHOUSE_URL", "")
DATABASE = "grafana_panels"


class Server:
    """ClickHouse over HTTP with the chDB warehouse's query/insert interface."""

    def __init__(self, url, database=None):
        self.url, self.database = url, database

    def query(self, sql):
        params = {"database": self.database} if self.database else {}
        request = urllib.request.Request(f"{self.url}/?{urllib.parse.urlencode(params)}", data=sql.encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.read().decode().strip()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{err.read().decode()}\n--- query:\n{sql[:500]}") from None

    def insert(self, rows):
        # 18.16's JSONEachRow reads a DateTime only as text.
        as_text = [{**row, "timestamp": datetime.fromtimestamp(row["timestamp"], timezone.utc)
                    .strftime("%Y-%m-%d %H:%M:%S")} for row in rows]
        self.query("INSERT INTO page_visits FORMAT JSONEachRow\n" + "\n".join(json.dumps(r) for r in as_text))


def server_version():
    try:
        return Server(URL).query("SELECT version()")
    except (OSError, AssertionError):
        return ""


# Skipped only when no server is named: a named server that is down or not 18.16 fails the tier instead of
# passing it with these checks unrun.
pytestmark = pytest.mark.skipif(not URL, reason="CLICKHOUSE_URL names no ClickHouse 18.16")


@pytest.fixture(scope="module")
def wh():
    version = server_version()
    assert version.startswith("18.16"), f"CLICKHOUSE_URL={URL} is not a reachable ClickHouse 18.16 (version {version!r})"
    admin = Server(URL)
    admin.query(f"DROP DATABASE IF EXISTS {DATABASE}")
    admin.query(f"CREATE DATABASE {DATABASE}")
    server = Server(URL, DATABASE)
    # The tables the panels read; not the Kafka-engine tables, which would consume from a broker.
    for migration in as_migrate_creates():
        if not re.search(r"ENGINE\s*=\s*Kafka|FROM\s+\w+_queue\b", migration["statement"]):
            server.query(migration["statement"])
    seed(server)
    yield server
    admin.query(f"DROP DATABASE IF EXISTS {DATABASE}")


def test_the_ratios_round_exact_halves_as_the_api_does(wh):
    # 18.16 rounds a Float64 half away from zero, as the API does (current ClickHouse does not: see there).
    found, expected = ratios_at_exact_halves(wh)
    assert found == expected
