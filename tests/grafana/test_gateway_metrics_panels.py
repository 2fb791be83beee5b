"""The pipeline-health panels on the gateway's metrics ask for series the gateway serves: every metric a PromQL
expression reads is registered in ingest-gateway/src/metrics.rs under that name (a counter with the `_total`
that prometheus-client appends), and every label it groups by is a label of that metric. Against a running
gateway too, when GATEWAY_METRICS_URL names its /metrics (e.g. http://127.0.0.1:18082/metrics of
`scripts/stack.sh up`): what it serves is what the source registers. The edge worker's counts, which no
datasource here can read, are named where they are."""
import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

import generate

ROOT = Path(__file__).resolve().parents[2]
METRICS_RS = (ROOT / "ingest-gateway" / "src" / "metrics.rs").read_text()
PIPELINE = json.loads((generate.HERE / "dashboards" / "pipeline-health.json").read_text())
PROMQL_FUNCTIONS = {"sum", "increase", "rate", "sort_desc", "by", "without"}


def gateway_metrics():
    """Series name -> label names, from the registrations and field types of metrics.rs."""
    label_structs = {name: re.findall(r"^\s+(\w+): ", body, re.M)
                     for name, body in re.findall(r"struct (\w+) \{(.*?)\}", METRICS_RS, re.S)}
    fields = dict(re.findall(r"^\s+(\w+): (.+),$", METRICS_RS.split("pub struct Metrics {")[1].split("}")[0], re.M))
    series = {}
    for name, field in re.findall(r'r\.register\(\s*"(\w+)",\s*".*?",\s*self\.(\w+)\.clone\(\)', METRICS_RS, re.S):
        kind = fields[field]
        labels = next((label_structs[s] for s in label_structs if re.search(rf"\b{s}\b", kind)), [])
        if "Counter" in kind:
            series[f"{name}_total"] = set(labels)
        elif "Histogram" in kind:
            series.update({f"{name}_{part}": set(labels) for part in ("bucket", "sum", "count")})
        else:
            series[name] = set(labels)
    return series


def prometheus_targets():
    for panel in PIPELINE["panels"]:
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel["title"], target


def metric_names(expr):
    """Every identifier that is neither a function nor a grouping label: the series an expression reads."""
    without_ranges = re.sub(r"\[[^\]]*\]", "", expr)
    return set(re.findall(r"[a-zA-Z_]\w*", without_ranges)) - PROMQL_FUNCTIONS - grouped_labels(expr)


def grouped_labels(expr):
    return {label.strip() for group in re.findall(r"\bby \(([^)]*)\)", expr) for label in group.split(",")}


def test_the_parser_reads_the_gateway_metrics_it_should():
    metrics = gateway_metrics()
    assert metrics["gateway_refusals_total"] == {"reason"}
    assert metrics["gateway_produce_failures_total"] == {"topic", "reason"}
    assert metrics["gateway_produce_duration_seconds_bucket"] == {"topic"}
    assert metrics["gateway_produce_requests_in_flight"] == set()


def test_the_dashboard_shows_refusals_by_reason_and_producer_failures():
    read = {name for _, target in prometheus_targets() for name in metric_names(target["expr"])}
    assert {"gateway_refusals_total", "gateway_produce_failures_total"} <= read


@pytest.mark.parametrize("title, target", list(prometheus_targets()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_expression_reads_a_gateway_metric_and_groups_by_its_labels(title, target):
    metrics = gateway_metrics()
    names = metric_names(target["expr"])
    assert names, target["expr"]
    for name in names:
        assert name in metrics, f"{title}: {name} is not served by the gateway"
        assert grouped_labels(target["expr"]) <= metrics[name], (title, target["expr"])
    legend_labels = set(re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]))
    assert legend_labels and legend_labels <= grouped_labels(target["expr"]), (title, target["legendFormat"])


def test_a_misspelt_metric_would_be_caught():
    assert "gateway_refusal_total" not in gateway_metrics()
    assert metric_names("sum by (reason) (increase(gateway_refusal_total[5m]))") == {"gateway_refusal_total"}


@pytest.mark.skipif(not os.environ.get("GATEWAY_METRICS_URL"), reason="GATEWAY_METRICS_URL names no gateway")
def test_a_running_gateway_serves_what_the_source_registers_and_the_refusals_from_zero():
    # A labelled family appears in the exposition only once it has a child (the first record produced, the
    # first failure), so a live scrape checks the registry read from the source, which the panels are held to.
    with urllib.request.urlopen(os.environ["GATEWAY_METRICS_URL"], timeout=10) as answer:
        text = answer.read().decode()
    families = set(re.findall(r"^# TYPE (\w+) (\w+)", text, re.M))
    served = {f"{name}_total" if kind == "counter" else name for name, kind in families if kind != "histogram"}
    served |= {f"{name}_{part}" for name, kind in families if kind == "histogram"
               for part in ("bucket", "sum", "count")}
    assert served and served <= set(gateway_metrics()), served - set(gateway_metrics())
    reasons = set(re.findall(r'^gateway_refusals_total\{reason="(\w+)"\} ', text, re.M))
    assert {"rate_limited", "wrong_credentials", "queue_full"} <= reasons, "every refusal reason from zero"


def test_the_worker_counts_are_named_where_they_are_visible():
    [text] = [panel for panel in PIPELINE["panels"] if panel["type"] == "text"]
    content = text["options"]["content"]
    for tally in ("events_dead_lettered", "events_lost", "requests_rejected", "queue_messages_retried"):
        assert f"`{tally}`" in content
    assert "analytics_engine/sql" in content and "PATHLIGHT_METRICS" in content
    worker_readme = (ROOT / "edge-worker" / "README.md").read_text()
    query = re.search(r"```sql\n(.*?)```", content, re.S).group(1)
    assert query in worker_readme, "the query is the one edge-worker/README.md documents"
    assert "Workers Analytics Engine" in PIPELINE["description"]
