"""The generated dashboards hold only what Grafana's published dashboard schema knows: decoding each one with
grafana-foundation-sdk's dashboard model (generated from that schema) and encoding it again loses no field and
changes no value, so nothing we write is a key Grafana would ignore or a value of the wrong shape."""
import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "grafana" / "dashboards").glob("*.json"))


def differences(written, decoded, path=""):
    if isinstance(written, dict):
        if not isinstance(decoded, dict):
            return [f"{path}: became {decoded!r}"]
        return [found for key, value in written.items()
                for found in (differences(value, decoded[key], f"{path}/{key}") if key in decoded
                              else [f"{path}/{key}: not in the schema"])]
    if isinstance(written, list):
        if not isinstance(decoded, list) or len(decoded) != len(written):
            return [f"{path}: became {decoded!r}"]
        return [found for i, (a, b) in enumerate(zip(written, decoded)) for found in differences(a, b, f"{path}[{i}]")]
    return [] if written == decoded else [f"{path}: {written!r} became {decoded!r}"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_a_dashboard_survives_the_schema_models_round_trip_unchanged(path):
    written = json.loads(path.read_text())
    decoded = json.loads(json.dumps(Dashboard.from_json(written), cls=JSONEncoder))
    assert differences(written, decoded) == []


def test_a_key_the_schema_does_not_know_is_caught():
    written = json.loads(next(p for p in DASHBOARDS if p.name == "web-analytics.json").read_text())
    written["templating"]["list"][0]["definition"] = "SELECT 1"
    decoded = json.loads(json.dumps(Dashboard.from_json(written), cls=JSONEncoder))
    assert differences(written, decoded) == ["/templating/list[0]/definition: not in the schema"]
