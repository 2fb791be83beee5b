"""The files a user's Grafana loads: up to date with grafana/generate.py, parseable, on the one provisioned
datasource, with no secret written in them."""
import json
import re

import pytest
import yaml

import generate
from plugin_macros import NOT_ON_18_16

GRAFANA = generate.HERE
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml"
PROMETHEUS_DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"


def test_the_generated_files_are_what_the_generator_writes_now():
    stale = [path for path, text in generate.outputs().items() if (GRAFANA / path).read_text() != text]
    assert not stale, f"rerun `python3 grafana/generate.py`: {stale} differ from their source"


def test_every_dashboard_file_in_the_directory_comes_from_the_generator():
    written = {path for path in generate.outputs() if path.startswith("dashboards/")}
    assert {f"dashboards/{p.name}" for p in (GRAFANA / "dashboards").glob("*")} == written


def provisioned_datasource():
    datasources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert len(datasources) == 1
    return datasources[0]


def test_the_datasource_is_the_clickhouse_plugin_with_the_pinned_uid():
    datasource = provisioned_datasource()
    assert datasource["type"] == "grafana-clickhouse-datasource" == generate.DATASOURCE["type"]
    assert datasource["uid"] == generate.DATASOURCE["uid"]


def provisioned_prometheus():
    datasources = yaml.safe_load(PROMETHEUS_DATASOURCES.read_text())["datasources"]
    assert len(datasources) == 1
    return datasources[0]


def test_the_prometheus_datasource_has_the_pinned_uid_and_its_url_from_the_environment():
    datasource = provisioned_prometheus()
    assert datasource["type"] == "prometheus" == generate.PROMETHEUS["type"]
    assert datasource["uid"] == generate.PROMETHEUS["uid"]
    assert re.fullmatch(r"\$\{\w+\}", datasource["url"])
    assert "basicAuthPassword" not in datasource and "secureJsonData" not in datasource


def test_the_only_datasource_files_are_the_clickhouse_and_prometheus_ones():
    files = sorted(path.name for path in (GRAFANA / "provisioning" / "datasources").iterdir())
    assert files == ["clickhouse.yaml", "prometheus.yaml"]


def test_the_datasource_credentials_come_from_the_environment():
    datasource = provisioned_datasource()
    assert re.fullmatch(r"\$\{\w+\}", datasource["jsonData"]["username"])
    assert re.fullmatch(r"\$\{\w+\}", datasource["secureJsonData"]["password"])
    assert "password" not in datasource["jsonData"] and "basicAuthPassword" not in datasource


def datasource_references(node):
    if isinstance(node, dict):
        if "datasource" in node:
            yield node["datasource"]
        if "datasourceUid" in node:
            yield node["datasourceUid"]
        for value in node.values():
            yield from datasource_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_references(value)


@pytest.mark.parametrize("path", sorted(generate.outputs()))
def test_every_query_uses_only_the_provisioned_datasources(path):
    text = (GRAFANA / path).read_text()
    model = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    references = list(datasource_references(model))
    assert references
    clickhouse, prometheus = provisioned_datasource(), provisioned_prometheus()
    known = (clickhouse["uid"], "__expr__", {"type": clickhouse["type"], "uid": clickhouse["uid"]},
             {"type": prometheus["type"], "uid": prometheus["uid"]})
    for reference in references:
        assert reference in known, reference


def test_sql_goes_to_clickhouse_and_promql_to_prometheus():
    for dashboard, panel in panels():
        for query in panel.get("targets", []):
            expected = generate.DATASOURCE if "rawSql" in query else generate.PROMETHEUS
            assert ("rawSql" in query) != ("expr" in query), (dashboard, panel["title"])
            assert query["datasource"] == expected == panel["datasource"], (dashboard, panel["title"])


def panels():
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            yield path.name, panel


@pytest.mark.parametrize("dashboard, panel", list(panels()), ids=lambda v: v if isinstance(v, str) else v["title"])
def test_no_panel_uses_a_macro_that_fails_on_clickhouse_18_16(dashboard, panel):
    # The macros measured to work on 18.16 (../shared/PLATFORM.md); $__timeGroup and the _ms ones do not.
    portable = {"timeFilter", "fromTime", "toTime", "timeFrom", "timeTo", "dateFilter", "interval_s", "conditionalAll"}
    for query in panel.get("targets", []):
        if "rawSql" not in query:
            continue  # PromQL, for Prometheus: its $__ variables are Grafana's, not the ClickHouse plugin's
        used = set(re.findall(r"\$__(\w+)", query["rawSql"]))
        assert used <= portable and not used & NOT_ON_18_16, (dashboard, used)


def test_panels_of_a_dashboard_have_distinct_ids_and_the_web_dashboard_a_site_variable():
    for path in (GRAFANA / "dashboards").glob("*.json"):
        model = json.loads(path.read_text())
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids)), path
    web = json.loads((GRAFANA / "dashboards" / "web-analytics.json").read_text())
    assert [variable["name"] for variable in web["templating"]["list"]] == ["site", *generate.FILTERS]


def test_the_datasource_sets_only_settings_the_plugin_reads():
    # pkg/plugin/settings.go of the plugin (v4): these keys, a port given as text is parsed as a number.
    read_by_the_plugin = {"host", "port", "protocol", "secure", "path", "username", "defaultDatabase",
                          "dialTimeout", "queryTimeout", "customSettings", "tlsSkipVerify", "tlsAuth",
                          "tlsAuthWithCACert", "forwardGrafanaHeaders", "httpHeaders"}
    json_data = provisioned_datasource()["jsonData"]
    assert set(json_data) <= read_by_the_plugin
    assert json_data["protocol"] in ("http", "native") and json_data["host"] and json_data["port"]
