"""The docker-compose deployment, checked without a Docker engine.

Nothing here builds or starts a container. The compose file is validated against the
compose-spec JSON schema (tests/data/compose-spec.json) after the same variable
interpolation Compose does with the values of .env.example; the project's own rules are
checked on top (restart policies, health checks, state on named volumes, mounted files,
secrets, profiles); and the collector and assessor configurations the file mounts are run
through `collector check` and `assessor check` with exactly the environment the compose
file gives those containers; the per-factory wiring (the collector's own write token and
bucket, the assessor's own bucket and its DBRP init script) is checked on top. Debian's
`docker-compose config` is run as well when it is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from assessor.config import load_assessor_config
from collector.config import load_config
from datacontract import MEASUREMENT_MACHINE, ROLES
from simulator.config import load_simulator_config

# scripts/test.sh installs everything these tests need: a missing tool is a failure, not a skip


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install Debian's {package} (SETUP_BROWSER=1 scripts/setup.sh does)")
    return path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
BIN = Path(sys.executable).parent

# Where each service keeps its state, in the container. The collector's and the assessor's
# paths are read from their configurations below; these are fixed by the images.
FIXED_STATE = {
    "influxdb": ["/var/lib/influxdb2", "/etc/influxdb2"],
    "grafana": ["/var/lib/grafana"],
}

# Compose interpolation: $$ is a literal $, ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error} and $VAR.
_COMPOSE_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class UnsetVariable(Exception):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op in (":-", ":?") and value == "":
            value = None
        if value is not None:
            return value
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise UnsetVariable(f"{name}: {arg}")
        return ""

    return _COMPOSE_VAR.sub(sub, text)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def compose_variables(text: str) -> set[str]:
    return {
        m.group("braced") or m.group("bare") for m in _COMPOSE_VAR.finditer(text) if not m.group("escaped")
    }


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        env[key.strip()] = value.strip()
    return env


@cache
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@cache
def raw_compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@cache
def compose() -> dict[str, Any]:
    """The compose file as Compose sees it with .env.example as its .env."""
    return interpolate_tree(raw_compose(), env_example())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def container_env(service: str) -> dict[str, str]:
    env = services()[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def mounts(service: str) -> list[dict[str, Any]]:
    """Short-syntax volumes as {type, source, target, read_only}."""
    out = []
    for item in services()[service].get("volumes", []):
        assert isinstance(item, str), f"{service}: use the short volume syntax"
        parts = item.split(":")
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        out.append({"type": kind, "source": source, "target": target, "read_only": "ro" in parts[2:]})
    return out


def mount_for(service: str, container_path: str) -> dict[str, Any] | None:
    """The mount that holds container_path (the deepest target above it)."""
    path = PurePosixPath(container_path)
    best = None
    for m in mounts(service):
        target = PurePosixPath(m["target"])
        if (path == target or target in path.parents) and (
            best is None or len(target.parts) > len(PurePosixPath(best["target"]).parts)
        ):
            best = m
    return best


def bind_target_of(service: str, repo_file: Path) -> str:
    for m in mounts(service):
        if m["type"] == "bind" and (ROOT / m["source"]).resolve() == repo_file.resolve():
            return m["target"]
    raise AssertionError(f"{service} does not mount {repo_file.relative_to(ROOT)}")


def repo_file_at(service: str, container_path: str) -> Path:
    for m in mounts(service):
        if m["type"] == "bind" and m["target"] == container_path:
            return (ROOT / m["source"]).resolve()
    raise AssertionError(f"{service}: nothing of the repository is mounted at {container_path}")


def config_path_of(service: str) -> Path:
    """The repository file a service's `--config` argument points at."""
    command = services()[service]["command"]
    return repo_file_at(service, command[command.index("--config") + 1])


def run_check(program: str, config: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    # Only the container's variables: a token in the developer's shell must not make a
    # config pass here that would fail in the container.
    return subprocess.run(
        [str(BIN / program), "check", "--config", str(config)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def healthcheck_text(service: str) -> str:
    test = services()[service]["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


# --- the compose file itself -------------------------------------------------------------


def test_compose_file_matches_the_compose_spec_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_compose_file() -> None:
    # guards against a schema that accepts anything (a truncated or wrongly vendored file)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(compose()))
    broken["services"]["collector"]["restart_policy"] = "always"
    broken["services"]["influxdb"]["healthcheck"]["interval"] = 30
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) == 2


def test_docker_compose_config_accepts_the_file() -> None:
    require_tool("docker-compose", "docker-compose")
    # 1.29 validates with its own (older) copy of the schema and resolves every variable;
    # its `config --services` ignores profiles, so profiles are checked below instead
    base = ["docker-compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE)]
    for extra in ([], ["--profile", "demo"]):
        done = subprocess.run(
            [*base, *extra, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr


def test_every_variable_is_defined_in_env_example() -> None:
    used = compose_variables(COMPOSE.read_text(encoding="utf-8"))
    missing = sorted(used - env_example().keys())
    assert not missing, f"used in docker-compose.yml but not in .env.example: {missing}"


def test_secrets_are_required_not_defaulted() -> None:
    # a forgotten .env entry must stop `docker compose up`, not start with an empty password
    text = COMPOSE.read_text(encoding="utf-8")
    for name in env_example():
        if re.search(r"PASSWORD|TOKEN", name):
            for m in re.finditer(r"\$\{" + name + r"(?P<op>[^}]*)\}", text):
                assert m.group("op").startswith(":?"), f"${{{name}}} needs the :? form"
    with pytest.raises(UnsetVariable, match="INFLUX_ADMIN_TOKEN"):
        interpolate_tree(raw_compose(), {k: v for k, v in env_example().items() if k != "INFLUX_ADMIN_TOKEN"})


def test_env_example_holds_no_real_secret() -> None:
    for name, value in env_example().items():
        if re.search(r"PASSWORD|TOKEN", name):
            assert value.startswith("change-me"), f"{name} in .env.example must be a change-me placeholder"


def test_every_service_restarts_and_has_a_healthcheck() -> None:
    for name, svc in services().items():
        assert svc.get("restart") in ("unless-stopped", "always"), f"{name}: restart policy"
        hc = svc.get("healthcheck")
        assert hc and not hc.get("disable"), f"{name}: healthcheck"
        test = hc["test"]
        assert (test if isinstance(test, str) else test[0]) not in ("NONE",), f"{name}: healthcheck disabled"
        for key in ("interval", "timeout", "retries"):
            assert key in hc, f"{name}: healthcheck {key}"


def test_images_are_pinned() -> None:
    for name, svc in services().items():
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image!r})"
    # `latest` is InfluxDB 3 Core now, which has no setup mode, no buckets and no Flux
    assert services()["influxdb"]["image"] == "influxdb:2.7"


def test_python_services_share_one_image_built_here() -> None:
    images = {services()[s]["image"] for s in ("collector", "assessor", "simulator")}
    assert len(images) == 1
    for s in ("collector", "assessor", "simulator"):
        assert services()[s]["build"]["context"] == "."
        assert (ROOT / services()[s]["build"]["dockerfile"]).is_file()


def test_bind_mounts_exist_and_are_read_only() -> None:
    declared = set(compose().get("volumes") or {})
    for name in services():
        for m in mounts(name):
            if m["type"] == "bind":
                assert (ROOT / m["source"]).exists(), f"{name}: {m['source']} does not exist"
                assert m["read_only"], f"{name}: {m['source']} should be mounted :ro"
            else:
                assert m["source"] in declared, f"{name}: volume {m['source']} not declared"


def _assert_on_named_volume(service: str, path: str) -> None:
    m = mount_for(service, path)
    assert m is not None, f"{service}: {path} is inside the container only and is lost on recreate"
    assert m["type"] == "volume", f"{service}: {path} is on a bind mount, not a named volume"
    assert not m["read_only"], f"{service}: {path} is on a read-only volume"


def test_state_is_on_named_volumes() -> None:
    for service, paths in FIXED_STATE.items():
        for p in paths:
            _assert_on_named_volume(service, p)

    collector = load_config(config_path_of("collector"), container_env("collector"))
    assert collector.mqtt is not None
    for p in (collector.spool.path, collector.spool.quarantine_dir, collector.mqtt.dead_letter_path):
        assert p is not None and p.is_absolute(), f"collector state path {p} must be absolute"
        _assert_on_named_volume("collector", str(p))

    assessor = load_assessor_config(config_path_of("assessor"), container_env("assessor"))
    _assert_on_named_volume("assessor", str(assessor.registry))

    conf = mosquitto_conf()
    _assert_on_named_volume("mosquitto", conf["persistence_location"])

    used = {m["source"] for s in services() for m in mounts(s) if m["type"] == "volume"}
    assert used == set(compose()["volumes"]), "a declared volume is unused, or the reverse"


def test_simulator_only_under_the_demo_profile() -> None:
    for name, svc in services().items():
        if name == "simulator":
            assert svc.get("profiles") == ["demo"]
        else:
            assert not svc.get("profiles"), f"{name} must run without a profile"
        # depending on a profile-only service breaks `docker compose up` without the profile
        assert "simulator" not in (svc.get("depends_on") or {}), f"{name} depends on the simulator"


def test_dependencies_wait_for_health() -> None:
    for name, svc in services().items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services(), f"{name} depends on unknown {dep}"
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert "healthcheck" in services()[dep]


def test_influxdb_setup_mode_from_env() -> None:
    env = container_env("influxdb")
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"):
        assert env[f"DOCKER_INFLUXDB_INIT_{key}"], key
    # 2.x refuses setup with a shorter password
    assert len(env["DOCKER_INFLUXDB_INIT_PASSWORD"]) >= 8


# --- mosquitto ---------------------------------------------------------------------------


def mosquitto_conf() -> dict[str, str]:
    path = repo_file_at("mosquitto", "/mosquitto/config/mosquitto.conf")
    conf: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition(" ")
            assert key not in conf or key == "log_type", f"mosquitto.conf: {key} repeats"
            conf[key] = value.strip()
    return conf


def test_mosquitto_refuses_anonymous_clients() -> None:
    conf = mosquitto_conf()
    assert conf["allow_anonymous"] == "false"
    assert conf["listener"].split()[0] == "1883"
    assert conf["persistence"] == "true"
    text = repo_file_at("mosquitto", "/mosquitto/config/mosquitto.conf").read_text(encoding="utf-8")
    assert "allow_anonymous true" not in text
    # the password file is the one the entry point writes
    entry = services()["mosquitto"]["entrypoint"]
    script = repo_file_at("mosquitto", entry[-1])
    assert f'"${{MOSQUITTO_AUTH_DIR:-{PurePosixPath(conf["password_file"]).parent}}}"' in script.read_text(
        encoding="utf-8"
    )
    assert PurePosixPath(conf["password_file"]).name == "passwd"
    env = container_env("mosquitto")
    assert env["MQTT_USER"] and env["MQTT_PASSWORD"]
    assert "$MQTT_USER" in healthcheck_text("mosquitto"), "the healthcheck must log in"


def test_mosquitto_entrypoint_writes_the_password_file(tmp_path: Path) -> None:
    require_tool("mosquitto_passwd", "mosquitto")
    script = repo_file_at("mosquitto", services()["mosquitto"]["entrypoint"][-1])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MQTT_USER": "collector",
        "MQTT_PASSWORD": "pa ss$word",
        "MOSQUITTO_AUTH_DIR": str(tmp_path / "auth"),
        "MOSQUITTO_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(["sh", str(script), "true"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    passwd = tmp_path / "auth" / "passwd"
    lines = passwd.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collector:$7$")
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    assert not (tmp_path / "auth" / "passwd.new").exists()

    del env["MQTT_PASSWORD"]
    refused = subprocess.run(["sh", str(script), "true"], env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "MQTT_PASSWORD" in refused.stderr


# --- the collector -----------------------------------------------------------------------


def test_collector_config_passes_collector_check() -> None:
    done = run_check("collector", config_path_of("collector"), container_env("collector"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_collector_check_fails_without_the_compose_environment() -> None:
    env = {k: v for k, v in container_env("collector").items() if k != "INFLUX_TOKEN"}
    done = run_check("collector", config_path_of("collector"), env)
    assert done.returncode == 2
    assert "influx.token" in done.stderr


def test_collector_config_fits_the_compose_services() -> None:
    cfg = load_config(config_path_of("collector"), container_env("collector"))
    influx_env = container_env("influxdb")
    assert cfg.influx.api == "v2"
    assert urlsplit(cfg.influx.url).hostname == "influxdb"
    assert cfg.influx.org == influx_env["DOCKER_INFLUXDB_INIT_ORG"]
    assert cfg.influx.database == env_example()["INFLUX_BUCKET"]
    assert cfg.influx.token == env_example()["INFLUX_COLLECTOR_TOKEN"]
    assert cfg.site.factory == env_example()["FACTORY_ID"]

    # the metrics endpoint answers the healthcheck and the published port
    host, port = cfg.metrics.listen.rsplit(":", 1)
    assert host == "0.0.0.0"
    assert f"127.0.0.1:{port}/healthz" in healthcheck_text("collector")
    assert any(p.endswith(f":{port}") for p in services()["collector"]["ports"])

    assert cfg.mqtt is not None
    assert urlsplit(cfg.mqtt.url).hostname == "mosquitto"
    mqtt_env = container_env("mosquitto")
    assert (cfg.mqtt.username, cfg.mqtt.password) == (mqtt_env["MQTT_USER"], mqtt_env["MQTT_PASSWORD"])

    # the demo devices are the simulator's machines, on the simulator's ports
    sim = load_simulator_config(config_path_of("simulator"))
    assert {d.host for d in cfg.modbus.devices} == {"simulator"}
    assert {(d.machine, d.port) for d in cfg.modbus.devices} == {(m.name, m.port) for m in sim.machines}
    for m in sim.machines:
        assert str(m.port) in healthcheck_text("simulator")

    # a stop must leave the collector time to flush before SIGKILL
    grace = services()["collector"]["stop_grace_period"]
    assert grace.endswith("s") and float(grace[:-1]) > cfg.influx.flush_timeout


def test_simulator_listens_on_all_interfaces_and_matches_the_demo_line() -> None:
    compose_sim = load_simulator_config(config_path_of("simulator"))
    local_sim = load_simulator_config(ROOT / "configs" / "simulated-line.yaml")
    assert compose_sim.host == "0.0.0.0"
    assert compose_sim.model_dump(exclude={"host"}) == local_sim.model_dump(exclude={"host"})


# --- the assessor ------------------------------------------------------------------------


def test_assessor_config_passes_assessor_check() -> None:
    done = run_check("assessor", config_path_of("assessor"), container_env("assessor"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_assessor_check_fails_without_the_compose_environment() -> None:
    env = {k: v for k, v in container_env("assessor").items() if k != "INFLUX_TOKEN"}
    done = run_check("assessor", config_path_of("assessor"), env)
    assert done.returncode == 2
    assert "influx.token" in done.stderr


def test_assessor_config_fits_influxdb_2() -> None:
    cfg = load_assessor_config(config_path_of("assessor"), container_env("assessor"))
    influx_env = container_env("influxdb")
    # InfluxQL over the v1 compatibility API, bucket read as database through its DBRP
    # mapping, and "Authorization: Token" (api v2) on every request
    assert cfg.influx.api == "v2"
    assert urlsplit(cfg.influx.url).hostname == "influxdb"
    # its own bucket (materialised KPIs) is the one the setup creates and maps
    assert cfg.influx.database == influx_env["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert cfg.influx.token == env_example()["INFLUX_ASSESSOR_TOKEN"]
    # 2.x has no CREATE RETENTION POLICY, and a named policy would need its own DBRP mapping
    assert cfg.kpi.retention_policy == ""
    assert cfg.influx.retention_policy == ""

    host, port = cfg.server.listen.rsplit(":", 1)
    assert host == "0.0.0.0"
    assert f"127.0.0.1:{port}/healthz" in healthcheck_text("assessor")
    assert any(p.endswith(f":{port}") for p in services()["assessor"]["ports"])


def test_assessor_level_rules_are_mounted_where_the_config_points() -> None:
    config = config_path_of("assessor")
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    rules = PurePosixPath(raw["level_rules"])
    container_config = PurePosixPath(bind_target_of("assessor", config))
    in_container = rules if rules.is_absolute() else container_config.parent / rules
    # the installed package cannot find the checkout's configs/, so the file must be mounted
    assert repo_file_at("assessor", str(in_container)) == (config.parent / rules).resolve()


# --- each factory's data is its own (docs/deployment.md) -------------------------------


def token_variables(service: str) -> set[str]:
    """The .env variables the service's InfluxDB token is made of, before interpolation."""
    env = raw_compose()["services"][service]["environment"]
    return compose_variables(env["INFLUX_TOKEN"])


def test_the_collector_gets_a_write_token_of_its_own_never_an_admin_or_the_assessors() -> None:
    assert token_variables("collector") == {"INFLUX_COLLECTOR_TOKEN"}
    assert token_variables("assessor") == {"INFLUX_ASSESSOR_TOKEN"}
    # nothing in the collector's environment carries a broader credential under another name
    raw_env = raw_compose()["services"]["collector"]["environment"]
    broader = {"INFLUX_ADMIN_TOKEN", "INFLUX_ASSESSOR_TOKEN", "INFLUX_GRAFANA_TOKEN", "INFLUX_ADMIN_PASSWORD"}
    for key, value in raw_env.items():
        assert not compose_variables(str(value)) & broader, f"collector: {key} = {value}"
        assert not key.startswith("DOCKER_INFLUXDB_INIT_"), f"collector: {key}"
    # and .env.example does not suggest reusing one: the collector's token is the printed one
    example = env_example()
    assert example["INFLUX_COLLECTOR_TOKEN"] not in (
        example["INFLUX_ADMIN_TOKEN"],
        example["INFLUX_ASSESSOR_TOKEN"],
        example["INFLUX_GRAFANA_TOKEN"],
    )


def test_the_collector_writes_the_bucket_the_assessor_reads_for_its_factory_only() -> None:
    collector = load_config(config_path_of("collector"), container_env("collector"))
    assessor = load_assessor_config(config_path_of("assessor"), container_env("assessor"))
    # what `assessor edge provision --factory FACTORY_ID` creates and prints
    assert collector.influx.database == assessor.influx.raw_database_for(collector.site.factory)
    assert "{factory}" in assessor.influx.raw_database, "one bucket per factory, not one shared"
    # the assessor's own bucket is another one, which no edge token is given
    assert assessor.influx.database != collector.influx.database
    assert assessor.influx.database != assessor.influx.raw_database_for("x")
    # Grafana's data source reads the factory's bucket, where the machine data is
    assert container_env("grafana")["INFLUX_BUCKET"] == collector.influx.database


def test_influxdb_setup_maps_the_assessors_bucket(tmp_path: Path) -> None:
    target = "/docker-entrypoint-initdb.d/factorylens-dbrp.sh"
    script = repo_file_at("influxdb", target)
    # the image runs `run-parts --regex '.*sh$'`, which skips files that are not executable
    assert re.fullmatch(r".*sh", PurePosixPath(target).name)
    assert os.access(script, os.X_OK), f"{script.name} must be executable (git update-index --chmod=+x)"

    # run it as the image would, with an `influx` that records its arguments
    fake = tmp_path / "bin" / "influx"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {
        "PATH": f"{fake.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ARGS_OUT": str(tmp_path / "args"),
        **container_env("influxdb"),
        "DOCKER_INFLUXDB_INIT_BUCKET_ID": "0a1b2c3d4e5f6789",
        "DOCKER_INFLUXDB_INIT_ORG_ID": "9876f5e4d3c2b1a0",
    }
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "args").read_text(encoding="utf-8").splitlines()
    assert args[:3] == ["v1", "dbrp", "create"]
    flags = dict(zip(args[3::2], args[4::2], strict=False))
    assessor = load_assessor_config(config_path_of("assessor"), container_env("assessor"))
    assert flags["--db"] == assessor.influx.database == env["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert flags["--bucket-id"] == "0a1b2c3d4e5f6789"
    assert flags["--org-id"] == "9876f5e4d3c2b1a0"
    assert flags["--rp"] == "autogen" and args[-1] == "--default"
    # without the ids the image exports, it stops instead of mapping nothing
    del env["DOCKER_INFLUXDB_INIT_BUCKET_ID"]
    refused = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "DOCKER_INFLUXDB_INIT_BUCKET_ID" in refused.stderr


# --- Grafana -----------------------------------------------------------------------------


def test_grafana_datasource_and_dashboard() -> None:
    prov = repo_file_at("grafana", "/etc/grafana/provisioning")
    ds_files = sorted((prov / "datasources").glob("*.yaml"))
    assert ds_files
    datasources = [d for f in ds_files for d in yaml.safe_load(f.read_text(encoding="utf-8"))["datasources"]]
    assert len(datasources) == 1
    ds = datasources[0]
    assert ds["type"] == "influxdb" and urlsplit(ds["url"]).hostname == "influxdb"
    assert ds["secureJsonData"]["httpHeaderValue1"].startswith("Token ")
    # every $VAR of the provisioning files is in Grafana's environment
    grafana_env = container_env("grafana")
    for f in ds_files:
        body = "\n".join(line.split("#", 1)[0] for line in f.read_text(encoding="utf-8").splitlines())
        for var in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", body):
            assert var in grafana_env, f"{f.name}: ${var} is not set in the grafana service"

    providers = yaml.safe_load((prov / "dashboards" / "factorylens.yaml").read_text(encoding="utf-8"))
    dash_dir = repo_file_at("grafana", providers["providers"][0]["options"]["path"])
    dashboards = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(dash_dir.glob("*.json"))]
    assert dashboards
    fields_seen: set[str] = set()
    for dash in dashboards:
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] == ds["uid"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == ds["uid"]
                assert f'FROM "{MEASUREMENT_MACHINE}"' in target["query"]
                fields_seen |= set(re.findall(r'\(\s*"([a-z_]+)"\s*\)', target["query"]))
    assert {"state", "count_total", "power_kw"} <= fields_seen
    assert fields_seen <= set(ROLES), f"fields that are not data-contract roles: {fields_seen - set(ROLES)}"


# --- image -------------------------------------------------------------------------------


def test_dockerfile_and_dockerignore() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim-bookworm\s*$", dockerfile, re.M)
    assert "fonts-nanum" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    extras = re.findall(r"pip install[^\n]*\[([^\]]*)\]", dockerfile)
    assert not {"test", "demo"} & {e.strip() for found in extras for e in found.split(",")}, (
        "no test or demo dependencies in the image"
    )
    # the state directories exist in the image, so new named volumes get their owner
    for service in ("collector", "assessor"):
        for m in mounts(service):
            if m["type"] == "volume":
                assert m["target"] in dockerfile, f"Dockerfile must create {m['target']}"

    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    for entry in (".env", ".venv", "var", "data", "test-artifacts", ".git"):
        assert entry in ignored, f".dockerignore: {entry}"
