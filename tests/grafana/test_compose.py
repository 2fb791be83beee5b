"""docker-compose.yml cannot run here, so it is checked as text: valid against the Compose specification's schema,
every file it mounts or builds from exists, every image pinned, host ports those of scripts/ports.env, the
services wired to each other and to the provisioned Grafana datasource, and the gateway given every setting it
needs to serve the dashboard, stats, replay and the rollups (its own check of them: `ingest-gateway
check-config`)."""
import functools
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PORTS = dict(line.split("=") for line in (ROOT / "scripts" / "ports.env").read_text().splitlines()
             if line and not line.startswith("#"))


def test_the_stack_has_the_documented_services():
    assert set(SERVICES) == {"redpanda", "clickhouse", "gateway", "worker", "prometheus", "grafana"}


def test_every_pulled_image_is_pinned_to_a_version():
    for name, service in SERVICES.items():
        image = service["image"]
        assert re.search(r":v?\d+\.\d+\.\d+", image) and "latest" not in image, (name, image)


def test_every_mounted_and_built_file_exists():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name


def test_the_dockerfiles_copy_only_what_exists():
    for dockerfile in (ROOT / "docker").glob("*.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY") and "--from" not in line:
                for source in line.split()[1:-1]:
                    assert source == "." or (ROOT / source).exists(), (dockerfile.name, source)


def host_ports(service):
    return {int(mapping.split(":")[-2]): int(mapping.split(":")[-1]) for mapping in SERVICES[service]["ports"]}


def test_host_ports_are_the_local_stacks():
    assert host_ports("redpanda") == {int(PORTS["BROKER_PORT"]): int(PORTS["BROKER_PORT"])}
    assert set(host_ports("clickhouse")) == {int(PORTS["CLICKHOUSE_HTTP_PORT"]), int(PORTS["CLICKHOUSE_TCP_PORT"])}
    assert set(host_ports("gateway")) == {int(PORTS["GATEWAY_PORT"])}
    assert set(host_ports("worker")) == {int(PORTS["WORKER_PORT"])}
    mapped = [port for service in SERVICES.values() for port in host_ports_or_none(service)]
    assert len(mapped) == len(set(mapped)), "two services on one host port"


def host_ports_or_none(service):
    return [int(mapping.split(":")[-2]) for mapping in service.get("ports", [])]


def test_the_worker_produces_to_redpandas_own_proxy_on_the_topic_the_gateway_creates():
    wrangler = (ROOT / "wrangler.toml").read_text()
    assert SERVICES["worker"]["environment"]["PROXY_URL"] == "http://redpanda:8082"
    assert "--pandaproxy-addr=internal://0.0.0.0:8082" in SERVICES["redpanda"]["command"]
    topic = re.search(r'^TOPIC = "(\w+)"', wrangler, re.M).group(1)
    assert SERVICES["gateway"]["environment"]["PAGE_VISITS_TOPIC"] == topic
    assert SERVICES["gateway"]["environment"]["KAFKA_BROKERS"] == "redpanda:9092"


def test_grafana_gets_every_variable_its_provisioning_reads():
    provisioning = ROOT / "grafana" / "provisioning"
    # Parsed, so a ${VAR} in a comment is not taken for a setting.
    models = [yaml.safe_dump(yaml.safe_load(path.read_text())) for path in provisioning.rglob("*.yaml")]
    wanted = {name for model in models for name in re.findall(r"\$\{(\w+)\}", model)}
    assert wanted and wanted <= set(SERVICES["grafana"]["environment"])
    assert SERVICES["grafana"]["environment"]["GF_INSTALL_PLUGINS"].startswith("grafana-clickhouse-datasource ")


def test_no_secret_is_written_in_the_compose_file():
    for service in SERVICES.values():
        for key, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), (key, value)


def test_the_worker_allows_the_sites_wrangler_toml_allows():
    wrangler = (ROOT / "wrangler.toml").read_text()
    assert SERVICES["worker"]["environment"]["SITES"] == re.search(r"^SITES = '(.*)'$", wrangler, re.M).group(1)


def test_the_grafana_clickhouse_user_is_read_only_with_its_password_from_the_environment():
    users = ET.parse(ROOT / "docker" / "clickhouse" / "users.d" / "grafana.xml").getroot()
    grafana = users.find("users/grafana")
    profile = users.find(f"profiles/{grafana.findtext('profile')}")
    assert profile.findtext("readonly") in ("1", "2")
    password = grafana.find("password")
    assert password.text is None and password.get("from_env") in SERVICES["clickhouse"]["environment"]
    datasource = yaml.safe_load((ROOT / "grafana" / "provisioning" / "datasources" / "clickhouse.yaml").read_text())
    user_variable = datasource["datasources"][0]["jsonData"]["username"].strip("${}")
    assert SERVICES["grafana"]["environment"][user_variable] == grafana.tag


def test_prometheus_scrapes_the_gateways_metrics_and_grafana_reads_that_prometheus():
    prometheus = SERVICES["prometheus"]
    config_mount = next(v for v in prometheus["volumes"] if v.endswith(":/etc/prometheus/prometheus.yml:ro"))
    config = yaml.safe_load((ROOT / config_mount.split(":")[0]).read_text())
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    [job] = config["scrape_configs"]
    listen_port = SERVICES["gateway"]["environment"]["GATEWAY_LISTEN"].rsplit(":", 1)[1]
    assert job["static_configs"] == [{"targets": [f"gateway:{listen_port}"]}]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job.get("scheme", "http") == "http"
    grafana = SERVICES["grafana"]
    assert grafana["environment"]["PATHLIGHT_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert "prometheus" in grafana["depends_on"] and "gateway" in prometheus["depends_on"]


def test_prometheus_is_reachable_only_inside_the_compose_network():
    assert "ports" not in SERVICES["prometheus"]


# The Compose specification's schema: schema/compose-spec.json of github.com/compose-spec/compose-spec at commit
# 170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23), Apache-2.0. To update it, copy that file from a newer
# commit and run these tests.
SPEC = json.loads((ROOT / "tests" / "grafana" / "compose-spec.json").read_text())
GATEWAY = ROOT / "target" / "debug" / "ingest-gateway"


def test_the_file_is_valid_against_the_compose_specification():
    validator = jsonschema.Draft7Validator(SPEC)  # the draft its $schema names
    validator.validate(COMPOSE)
    broken = {**COMPOSE, "services": {**SERVICES, "gateway": {**SERVICES["gateway"], "ports": "18082"}}}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def interpolated(environment):
    """A service's environment as compose passes it: `${NAME:-default}` gives the default and `${NAME:?message}`
    (a value compose refuses to start without) a sample value."""
    def value(text):
        text = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", str(text))
        return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: f"sample-{m.group(1).lower()}", text)
    return {name: value(text) for name, text in environment.items()}


@functools.cache
def gateway():
    """The gateway binary of the current sources, built once per run of these tests."""
    subprocess.run(["cargo", "build", "--quiet", "--locked", "-p", "ingest-gateway"], cwd=ROOT, check=True)
    return GATEWAY


def check_config(environment):
    done = subprocess.run([str(gateway()), "check-config"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], **environment})
    return done.returncode, done.stdout, done.stderr


def refusal(environment):
    code, out, err = check_config(environment)
    assert code != 0, out
    return out + err  # the error is logged


def test_the_gateway_gets_every_setting_it_needs_to_serve_what_compose_promises():
    environment = interpolated(SERVICES["gateway"]["environment"])
    code, out, err = check_config(environment)
    assert code == 0, err
    report = json.loads(out)
    known = {setting["env"] for setting in report["settings"]}
    assert set(environment) <= known, f"not a gateway setting: {sorted(set(environment) - known)}"
    required = {setting["env"] for setting in report["settings"] if setting["required"]}
    assert required <= set(environment)
    serves = report["serve"]
    assert serves["produce_clients"] == ["default"], "the produce API is authenticated"
    assert serves["stats"] and serves["dashboard"] and serves["replay"], serves
    assert serves["rollup_interval_s"] > 0, "the daily rows are kept"
    for setting in report["settings"]:
        if setting["secret"] and setting["env"] in environment:
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", SERVICES["gateway"]["environment"][setting["env"]]), setting


def test_the_check_refuses_what_serve_would_refuse():
    environment = interpolated(SERVICES["gateway"]["environment"])
    for missing in ("STATS_PASSWORD", "REPLAY_PASSWORD"):
        message = refusal({k: v for k, v in environment.items() if k != missing})
        assert missing in message, message
    # Listening beyond loopback without produce credentials.
    message = refusal({k: v for k, v in environment.items() if k != "GATEWAY_AUTH_TOKEN"})
    assert "GATEWAY_LISTEN" in message, message
    # A rollup timer whose late window (two days) starts before the events' retention.
    message = refusal({**environment, "EVENTS_RETENTION_DAYS": "1"})
    assert "EVENTS_RETENTION_DAYS" in message, message
