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
def test_every_query_uses_only_the_provisioned_datasource(path):
    text = (GRAFANA / path).read_text()
    model = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    references = list(datasource_references(model))
    assert references
    uid = provisioned_datasource()["uid"]
    for reference in references:
        assert reference in (uid, "__expr__", {"type": "grafana-clickhouse-datasource", "uid": uid}), reference


def panels():
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            yield path.name, panel


@pytest.mark.parametrize("dashboard, panel", list(panels()), ids=lambda v: v if isinstance(v, str) else v["title"])
def test_no_panel_uses_a_macro_that_fails_on_clickhouse_18_16(dashboard, panel):
    # The macros measured to work on 18.16 (../shared/PLATFORM.md); $__timeGroup and the _ms ones do not.
    portable = {"timeFilter", "fromTime", "toTime", "timeFrom", "timeTo", "dateFilter", "interval_s", "conditionalAll"}
    for query in panel["targets"]:
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
