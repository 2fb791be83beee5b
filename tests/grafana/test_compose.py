"""docker-compose.yml cannot run here, so it is checked as text: a valid compose model, every file it mounts or
builds from exists, every image pinned, host ports those of scripts/ports.env, and the services wired to each
other and to the provisioned Grafana datasource."""
import re
import xml.etree.ElementTree as ET
from pathlib import Path

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
