"""Every file under infra/ is checked: it parses, and it names the right image, command, volumes,
GPUs, versions and MLflow set-up. Docker and kubectl are not run here (no daemon, no cluster):
the checks read the files, use Ray's own cluster-config validator, sciloop's own config loader
and CLI parser, and start the MLflow server with the compose file's own command line.
Each checker is also run on a broken copy, so these tests can fail."""

from __future__ import annotations

import base64
import configparser
import contextlib
import copy
import importlib.util
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
IMAGE = f"registry.example.com/sciloop:{VERSION}-cuda"
TORCH_PIN = "torch==2.13.0"
PYTHON = "3.11"
GPU_RESOURCE = "gpu_node"
RAY_SECRET = ("sciloop-ray-auth", "auth_token")  # Ray's token: a Kubernetes Secret, never a value here
MLFLOW_CLIENT_SECRET = "sciloop-mlflow-client"   # sciloop's MLflow user (username / password keys)
# what can pull a (CUDA) torch when installed without the pin
TORCH_PULLERS = re.compile(r"(^|[\s\"'])(\.|-e|sciloop|torch|botorch|gpytorch|torch[-_]geometric|torchgfn)"
                           r"([\s\"'=<>\[]|$)|/sciloop\b")


def ray_version() -> str:
    import ray

    return ray.__version__


def load(rel: str) -> list[dict]:
    docs = [d for d in yaml.safe_load_all((INFRA / rel).read_text()) if d is not None]
    assert docs, f"{rel} is empty"
    return docs


def one(rel: str, kind: str) -> dict:
    (doc,) = [d for d in load(rel) if d.get("kind") == kind]
    return doc


# ---------------------------------------------------------------------------------------------
# checkers (plain functions returning problems, so they can be run on broken copies too)

def pip_commands(text: str) -> list[str]:
    """Each `pip install` command of a Dockerfile or a list of shell lines (continuations joined)."""
    joined = text.replace("\\\n", " ")
    parts = re.split(r"&&|;|\n", joined)
    return [p.strip() for p in parts if re.search(r"\bpip install\b", p)]


def torch_pin_problems(text: str) -> list[str]:
    """pip commands that could pull torch but do not pin it, or that name another index."""
    bad = []
    for cmd in pip_commands(text):
        args = cmd.split("pip install", 1)[1]
        if re.search(r"--(extra-)?index-url|(^|\s)-i\s|--find-links", args):
            bad.append(f"third-party index: {cmd}")
        if TORCH_PULLERS.search(args) and TORCH_PIN not in args:
            bad.append(f"torch not pinned: {cmd}")
    return bad


def dockerfile_problems(text: str) -> list[str]:
    """A sciloop image: installs the repo with pins, Ray auth set, `sciloop --help` by default."""
    bad = torch_pin_problems(text)
    installs = " ".join(pip_commands(text))
    if f'"ray[default]=={ray_version()}"' not in installs:
        bad.append(f"ray not pinned to {ray_version()}")
    for pkg in list(PYPROJECT["tool"]["setuptools"]["package-dir"].values()) + ["configs"]:
        if not re.search(rf"^COPY {pkg} {pkg}$", text, re.M):
            bad.append(f"package folder {pkg} not copied")
    if not re.search(r"^ENV RAY_AUTH_MODE=token\b", text, re.M):
        bad.append("Ray token auth not on (ENV RAY_AUTH_MODE=token)")
    if not re.search(r"^ +RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL=minor\b", text, re.M):
        bad.append("Ray would refuse a node whose Python patch differs (RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL)")
    if re.search(r"RAY_AUTH_MODE=disabled", text) or re.search(r"^(ENV|ARG)\b.*RAY_AUTH_TOKEN", text, re.M):
        bad.append("Ray auth disabled, or a token baked into the image")
    if re.search(r"^ENTRYPOINT", text, re.M):
        bad.append("an ENTRYPOINT would wrap KubeRay's and ray up's `ray start` commands")
    if not re.search(r'^CMD \["sciloop", "--help"\]$', text, re.M):
        bad.append("default command is not `sciloop --help`")
    return bad


def containers(cluster_spec: dict) -> dict[str, dict]:
    """group name ('head' for the head) -> its first container."""
    out = {"head": cluster_spec["headGroupSpec"]["template"]["spec"]["containers"][0]}
    for group in cluster_spec["workerGroupSpecs"]:
        out[group["groupName"]] = group["template"]["spec"]["containers"][0]
    return out


def env_of(container: dict) -> dict[str, dict]:
    """name -> the env entry (with `value` or `valueFrom`) of a container."""
    return {e["name"]: e for e in container.get("env", [])}


def from_secret(entry: dict | None, name: str, key: str) -> bool:
    """The env entry reads `key` of the Secret `name` (and holds no literal value)."""
    ref = (entry or {}).get("valueFrom", {}).get("secretKeyRef", {})
    return "value" not in (entry or {"value": None}) and ref.get("name") == name and ref.get("key") == key


def ray_auth_problems(where: str, container: dict) -> list[str]:
    """A Ray container with token auth on and the token from the Secret."""
    env = env_of(container)
    bad = []
    if env.get("RAY_AUTH_MODE", {}).get("value") != "token":
        bad.append(f"{where}: RAY_AUTH_MODE is not token")
    if not from_secret(env.get("RAY_AUTH_TOKEN"), *RAY_SECRET):
        bad.append(f"{where}: RAY_AUTH_TOKEN not from the Secret {RAY_SECRET[0]}")
    return bad


def cluster_problems(spec: dict) -> list[str]:
    """A RayCluster spec: one image, pinned Ray, token auth on every container, a GPU group with
    GPUs and the custom resource, the head (driver) mounting the run-directory PVC and the
    campaign ConfigMap and holding MLflow's client credentials from a Secret."""
    bad = []
    for group, c in containers(spec).items():
        bad += ray_auth_problems(group, c)
    head_env = env_of(containers(spec)["head"])
    for var, key in [("MLFLOW_TRACKING_USERNAME", "username"), ("MLFLOW_TRACKING_PASSWORD", "password")]:
        if not from_secret(head_env.get(var), MLFLOW_CLIENT_SECRET, key):
            bad.append(f"head: {var} not from the Secret {MLFLOW_CLIENT_SECRET}")
    if spec.get("rayVersion") != ray_version():
        bad.append(f"rayVersion {spec.get('rayVersion')} != {ray_version()}")
    for group, c in containers(spec).items():
        if c["image"] != IMAGE:
            bad.append(f"{group} image {c['image']} != {IMAGE}")
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    for name, g in groups.items():
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        custom = g["rayStartParams"].get("resources")
        custom = json.loads(shlex.split(custom)[0]) if custom else {}
        if name == "gpu":
            if int(limits.get("nvidia.com/gpu", 0)) < 1:
                bad.append("gpu group has no nvidia.com/gpu limit")
            if custom.get(GPU_RESOURCE, 0) <= 0:
                bad.append(f"gpu group lacks the custom resource {GPU_RESOURCE}")
        elif "nvidia.com/gpu" in limits or GPU_RESOURCE in custom:
            bad.append(f"group {name} claims a GPU")
    if "gpu" not in groups:
        bad.append("no gpu worker group")
    head = spec["headGroupSpec"]
    if head["rayStartParams"].get("num-cpus") != "0":
        bad.append("head takes Ray tasks (num-cpus should be 0: the driver runs there)")
    mounts = {m["name"]: m["mountPath"] for m in containers(spec)["head"].get("volumeMounts", [])}
    volumes = {v["name"]: v for v in head["template"]["spec"].get("volumes", [])}
    pvc = one("kuberay/pvc.yaml", "PersistentVolumeClaim")["metadata"]["name"]
    cm = one("kuberay/campaign-configmap.yaml", "ConfigMap")["metadata"]["name"]
    claims = [n for n, v in volumes.items() if v.get("persistentVolumeClaim", {}).get("claimName") == pvc]
    maps = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == cm]
    if not claims or claims[0] not in mounts:
        bad.append(f"head does not mount the PVC {pvc}")
    if not maps or maps[0] not in mounts:
        bad.append(f"head does not mount the ConfigMap {cm}")
    return bad


def head_mount(spec: dict, source_key: str, name: str) -> str:
    head = spec["headGroupSpec"]["template"]["spec"]
    (vol,) = [v["name"] for v in head["volumes"] if v.get(source_key, {}).get(
        "claimName" if source_key == "persistentVolumeClaim" else "name") == name]
    (path,) = [m["mountPath"] for m in head["containers"][0]["volumeMounts"] if m["name"] == vol]
    return path


def campaign_config():
    from sciloop.pipeline.config import load_config

    data = one("kuberay/campaign-configmap.yaml", "ConfigMap")["data"]
    return load_config(yaml.safe_load(data["campaign.yaml"]))


# ---------------------------------------------------------------------------------------------
# every file is covered

CHECKED = {"Dockerfile", "Dockerfile.cuda", "README.md", "kuberay/raycluster.yaml",
           "kuberay/rayjob.yaml", "kuberay/pvc.yaml", "kuberay/campaign-configmap.yaml",
           "kuberay/mlflow-service.yaml", "ray-up/cluster.yaml", "mlflow/compose.yaml",
           "mlflow/Dockerfile", "mlflow/basic_auth.ini"}


def test_every_infra_file_is_checked_here():
    files = {str(p.relative_to(INFRA)) for p in INFRA.rglob("*") if p.is_file()
             and "__pycache__" not in p.parts}
    assert files == CHECKED, f"unchecked: {files - CHECKED}; missing: {CHECKED - files}"


@pytest.mark.parametrize("rel", sorted(f for f in CHECKED if f.endswith(".yaml")))
def test_yaml_parses(rel):
    for doc in load(rel):
        assert isinstance(doc, dict)


# ---------------------------------------------------------------------------------------------
# images

@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_sciloop_images(name):
    assert dockerfile_problems((INFRA / name).read_text()) == []


def test_image_checker_catches_broken_dockerfiles():
    good = (INFRA / "Dockerfile").read_text()
    assert any("torch not pinned" in p for p in dockerfile_problems(
        good.replace('pip install --no-cache-dir "torch==2.13.0" "ray', 'pip install --no-cache-dir "ray')))
    assert any("third-party index" in p for p in torch_pin_problems(
        'RUN pip install --index-url https://example.org/whl "torch==2.13.0"'))
    assert dockerfile_problems(good.replace("COPY oracles oracles\n", ""))
    assert dockerfile_problems(good.replace('CMD ["sciloop", "--help"]', 'ENTRYPOINT ["sciloop"]'))
    assert dockerfile_problems(good.replace("RAY_AUTH_MODE=token", "RAY_AUTH_MODE=disabled"))
    assert dockerfile_problems(good.replace("RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL=minor", ""))
    assert dockerfile_problems(good.replace("ENV RAY_AUTH_MODE=token", "ENV RAY_AUTH_TOKEN=abc RAY_AUTH_MODE=token"))
    assert torch_pin_problems("RUN pip install botorch") and torch_pin_problems("RUN pip install -e .")
    assert torch_pin_problems("RUN pip install boto3 psycopg2-binary") == []


def test_both_images_share_python_and_cuda_image_is_cuda():
    cpu, cuda = (INFRA / "Dockerfile").read_text(), (INFRA / "Dockerfile.cuda").read_text()
    assert re.search(rf"^FROM python:{PYTHON}-slim$", cpu, re.M)
    assert re.search(r"^ARG CUDA_BASE=nvidia/cuda:[\w.]+-(base|runtime)-ubuntu[\d.]+$", cuda, re.M)
    assert re.search(r"^FROM \$\{CUDA_BASE\}$", cuda, re.M)
    assert f"--python {PYTHON} /opt/venv" in cuda and re.search(r"^ENV .*PATH=/opt/venv/bin:", cuda, re.M)
    # login shells (KubeRay's `bash -lc ... ray start`) get their PATH from /etc/profile
    assert "export PATH=/opt/venv/bin:$PATH' > /etc/profile.d/" in cuda


def test_mlflow_image_has_sql_and_s3_drivers_and_client_major():
    import mlflow

    text = (INFRA / "mlflow/Dockerfile").read_text()
    (cmd,) = pip_commands(text)
    pinned = re.search(r'"mlflow\[auth\]==(\d+)\.[\d.]+"', cmd)  # auth: the basic-auth app's Flask-WTF
    assert pinned and pinned.group(1) == mlflow.__version__.split(".")[0]
    assert "psycopg2" in cmd and "boto3" in cmd
    assert not TORCH_PULLERS.search(cmd.split("pip install", 1)[1])


# ---------------------------------------------------------------------------------------------
# KubeRay

def test_raycluster():
    doc = one("kuberay/raycluster.yaml", "RayCluster")
    assert doc["apiVersion"] == "ray.io/v1"
    assert cluster_problems(doc["spec"]) == []


def test_rayjob_runs_the_campaign_from_the_configmap_with_run_dir_on_the_pvc():
    doc = one("kuberay/rayjob.yaml", "RayJob")
    spec = doc["spec"]
    assert doc["apiVersion"] == "ray.io/v1"
    assert cluster_problems(spec["rayClusterSpec"]) == []
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    (submitter, *_) = spec["submitterPodTemplate"]["spec"]["containers"]  # KubeRay uses the first
    assert ray_auth_problems("submitter", submitter) == [] and submitter["image"] == IMAGE
    assert "command" not in submitter  # KubeRay fills in `ray job submit ...`
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["sciloop", "run"]
    cm = one("kuberay/campaign-configmap.yaml", "ConfigMap")
    config_dir = head_mount(spec["rayClusterSpec"], "configMap", cm["metadata"]["name"])
    config_path = Path(argv[2])
    assert config_path.parent == Path(config_dir) and config_path.name in cm["data"]
    pvc = one("kuberay/pvc.yaml", "PersistentVolumeClaim")["metadata"]["name"]
    run_root = Path(head_mount(spec["rayClusterSpec"], "persistentVolumeClaim", pvc))
    config = campaign_config()  # sciloop's own validation: unknown keys or bad values fail
    assert run_root in Path(config.run_dir).parents
    assert config.ray.address is None  # a Ray Job exports RAY_ADDRESS: the same config runs anywhere
    from sciloop.pipeline.cli import build_parser

    build_parser().parse_args(argv[1:])


def test_cluster_checker_catches_broken_manifests():
    spec = one("kuberay/raycluster.yaml", "RayCluster")["spec"]
    broken = copy.deepcopy(spec)
    gpu = [g for g in broken["workerGroupSpecs"] if g["groupName"] == "gpu"][0]
    del gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert any("nvidia.com/gpu" in p for p in cluster_problems(broken))
    broken = copy.deepcopy(spec)
    broken["headGroupSpec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "x"
    assert any("PVC" in p for p in cluster_problems(broken))
    broken = copy.deepcopy(spec)
    broken["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray"
    assert any("image" in p for p in cluster_problems(broken))
    broken = copy.deepcopy(spec)  # auth switched off on one worker group
    worker = broken["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]
    worker["env"] = [{"name": "RAY_AUTH_MODE", "value": "disabled"}]
    assert any("RAY_AUTH_MODE" in p for p in cluster_problems(broken))
    broken = copy.deepcopy(spec)  # a token written into the manifest
    head = broken["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"] = [e if e["name"] != "RAY_AUTH_TOKEN" else {"name": "RAY_AUTH_TOKEN", "value": "t0k3n"}
                   for e in head["env"]]
    assert any("RAY_AUTH_TOKEN" in p for p in cluster_problems(broken))


def test_pvc_and_tracking_service_match_the_campaign_and_compose():
    pvc = one("kuberay/pvc.yaml", "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"]
    svc = one("kuberay/mlflow-service.yaml", "Service")
    uri = urlparse(campaign_config().tracking.uri)
    assert uri.scheme == "http" and uri.hostname == svc["metadata"]["name"]
    assert uri.port == svc["spec"]["ports"][0]["port"] == compose_port()
    from mlflow.server.security_utils import is_allowed_host_header

    assert is_allowed_host_header(compose_allowed_hosts(), uri.netloc)


# ---------------------------------------------------------------------------------------------
# ray up

def test_ray_up_config_passes_rays_validator_and_pins():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = load("ray-up/cluster.yaml")[0]
    validate_config(prepare_config(copy.deepcopy(config)))
    setup = "\n".join(config["setup_commands"] + config["head_setup_commands"])
    assert torch_pin_problems(setup) == []
    assert f'"ray[default]=={ray_version()}"' in setup and f"--python {PYTHON}" in setup
    (remote,) = [r for r, local in config["file_mounts"].items() if local == "."]
    assert f"-e {remote}" in setup
    types = config["available_node_types"]
    assert types["gpu_worker"]["resources"].get(GPU_RESOURCE, 0) > 0
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    starts = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert starts.count("RAY_AUTH_MODE=token ray start") == 2  # token auth on head and workers
    assert "disabled" not in yaml.safe_dump(config)
    # the token reaches every node at Ray's default path, from the launching machine's file
    assert config["file_mounts"].get("/home/ubuntu/.ray/auth_token") == "~/.ray/auth_token"

    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_worker"]["min_workrs"] = 1
    with pytest.raises(Exception, match="min_workrs"):
        validate_config(prepare_config(broken))


# ---------------------------------------------------------------------------------------------
# MLflow server (compose)

def compose_mlflow() -> dict:
    return load("mlflow/compose.yaml")[0]["services"]["mlflow"]


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`."""
    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg or ""
    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", sub, text)


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def compose_port() -> int:
    (mapping,) = compose_mlflow()["ports"]
    host, container = str(mapping).split(":")
    return int(host)


def compose_allowed_hosts() -> list[str]:
    return interpolate(flag(compose_mlflow()["command"], "--allowed-hosts"), {}).split(",")


def test_compose_mlflow_uses_postgres_and_the_artifact_proxy():
    services = load("mlflow/compose.yaml")[0]["services"]
    mlflow_svc = services["mlflow"]
    argv = mlflow_svc["command"]
    assert argv[:2] == ["mlflow", "server"]
    backend = urlparse(interpolate(flag(argv, "--backend-store-uri"), {"POSTGRES_PASSWORD": "pw"}))
    assert backend.scheme.startswith("postgresql") and backend.hostname in services
    assert services[backend.hostname]["image"].startswith("postgres:")
    assert "service_healthy" in str(mlflow_svc["depends_on"][backend.hostname])
    assert "--serve-artifacts" in argv and "--no-serve-artifacts" not in argv
    destination = flag(argv, "--artifacts-destination")
    assert any(str(v).endswith(":" + destination) for v in mlflow_svc["volumes"])
    assert flag(argv, "--host") == "0.0.0.0" and int(flag(argv, "--port")) == compose_port()
    assert flag(argv, "--app-name") == "basic-auth"  # ...so that listener needs a user
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):  # no default password
        interpolate(services["postgres"]["environment"]["POSTGRES_PASSWORD"], {})
    assert mlflow_svc["build"] == "." and (INFRA / "mlflow" / "Dockerfile").exists()


def compose_auth_config() -> configparser.SectionProxy:
    """The basic-auth settings file that compose mounts into the MLflow container."""
    env = compose_mlflow()["environment"]
    (mount,) = [v for v in compose_mlflow()["volumes"] if str(v).split(":")[1] == env["MLFLOW_AUTH_CONFIG_PATH"]]
    parser = configparser.ConfigParser()
    parser.read_string((INFRA / "mlflow" / mount.split(":")[0]).read_text())
    return parser["mlflow"]


def test_compose_mlflow_requires_users_and_holds_no_secret():
    """Basic auth with the secret key and admin password from the environment, no defaults;
    the auth store on its own volume; no password in the settings file."""
    env = compose_mlflow()["environment"]
    for var in ["MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_AUTH_ADMIN_PASSWORD"]:
        with pytest.raises(KeyError, match=var):  # compose refuses to start without it
            interpolate(env[var], {})
        assert interpolate(env[var], {var: "from-the-shell"}) == "from-the-shell"
    auth = compose_auth_config()
    assert "admin_password" not in auth and auth["authorization_function"].endswith("basic_auth")
    store = "/" + urlparse(auth["database_uri"]).path.lstrip("/")  # sqlite:////abs/path
    assert any(str(v).endswith(":" + str(Path(store).parent)) for v in compose_mlflow()["volumes"])
    assert "--app-name" in compose_mlflow()["command"] and "basic-auth" in compose_mlflow()["command"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str, host: str, user: tuple[str, str] | None = None, body: dict | None = None) -> int:
    headers = {"Host": host}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(user).encode()).decode()
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.skipif(importlib.util.find_spec("flask_wtf") is None,
                    reason="MLflow's basic-auth app needs the mlflow[auth] extra (Flask-WTF)")
def test_compose_mlflow_command_serves_remote_clients(tmp_path, monkeypatch):
    """The compose command line itself (SQLite standing in for PostgreSQL, folders for the
    volumes, the compose environment with fresh secrets): nothing but /health answers without a
    user; sciloop's own user, created by the admin, uploads artifacts through the proxy into
    --artifacts-destination; an unlisted Host header is refused."""
    from mlflow import MlflowClient

    argv = [interpolate(a, {}) if "ALLOWED" in a else a for a in compose_mlflow()["command"]]
    port = _free_port()
    argv[argv.index("--backend-store-uri") + 1] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv[argv.index("--artifacts-destination") + 1] = str(tmp_path / "artifacts")
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    argv = [sys.executable, "-m", "mlflow", *argv[1:], "--workers", "1"]
    auth = compose_auth_config()
    auth["database_uri"] = f"sqlite:///{tmp_path / 'basic_auth.db'}"  # the mlflow-auth volume
    with (tmp_path / "basic_auth.ini").open("w") as f:
        auth.parser.write(f)
    admin = ("admin", secrets.token_hex(8))
    secret_env = {"MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16), "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1]}
    compose_env = {k: interpolate(str(v), secret_env) for k, v in compose_mlflow()["environment"].items()}
    compose_env["MLFLOW_AUTH_CONFIG_PATH"] = str(tmp_path / "basic_auth.ini")
    assert compose_env["MLFLOW_AUTH_ADMIN_USERNAME"] == admin[0]
    # own process group: the server's uvicorn workers are stopped with it; no GenAI job runner
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **compose_env)
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # start-up (DB migrations) is slow on a loaded machine
        while True:
            with contextlib.suppress(OSError):
                if _status(f"{base}/health", f"127.0.0.1:{port}") == 200:
                    break
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not answer /health"
            time.sleep(0.25)
        experiments = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
        host = f"sciloop-mlflow:{port}"
        assert _status(experiments, host) == 401  # no user: refused
        assert _status(experiments, host, (admin[0], "wrong")) == 401
        assert _status(experiments, host, admin) == 200
        assert _status(experiments, f"evil.example.com:{port}", admin) == 403
        sciloop_user = ("sciloop", secrets.token_hex(8))
        assert _status(f"{base}/api/2.0/mlflow/users/create", host, admin,
                       {"username": sciloop_user[0], "password": sciloop_user[1]}) == 200

        # a campaign whose user the server refuses stops with one line, not an untracked run
        # (sciloop's probe, /health, answers everyone)
        from sciloop.pipeline.config import ConfigError, load_config
        from sciloop.pipeline.ledger import Ledger
        from sciloop.pipeline.tracking import open_campaign_tracker

        campaign = load_config({"tracking": {"uri": base}})
        ledger = Ledger(tmp_path / "ledger.sqlite")
        for user in (None, (sciloop_user[0], "wrong")):
            for var, value in zip(("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"), user or (None, None)):
                monkeypatch.delenv(var, raising=False) if value is None else monkeypatch.setenv(var, value)
            with pytest.raises(ConfigError, match=r"refused sciloop \(HTTP 401.*MLFLOW_TRACKING_USERNAME"):
                open_campaign_tracker(campaign, tmp_path, ledger, "test")
        assert ledger.get_meta("mlflow_parent_run") is None

        # what the head pod gets from the Secret sciloop-mlflow-client
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", sciloop_user[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", sciloop_user[1])
        client = MlflowClient(base)
        run = client.create_run(client.create_experiment("infra-check"))
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        (tmp_path / "note.txt").write_text("proxied")
        client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))
        stored = list((tmp_path / "artifacts").rglob("note.txt"))
        assert [p.read_text() for p in stored] == ["proxied"]
        tracker = open_campaign_tracker(campaign, tmp_path, ledger, "test")  # sciloop's user: let in
        assert tracker.parent_id == ledger.get_meta("mlflow_parent_run")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


# ---------------------------------------------------------------------------------------------
# README

def test_readme_walks_through_every_file_and_its_commands_parse():
    from sciloop.pipeline.cli import build_parser

    text = (INFRA / "README.md").read_text()
    for rel in CHECKED - {"README.md"}:
        assert f"infra/{rel}" in text, f"README does not mention infra/{rel}"
    for needle in ["docker build", "docker push", "docker compose", "kubectl apply", "ray up",
                   "ray job submit", "sciloop resume", "sciloop status", "Status:"]:
        assert needle in text, needle
    assert re.search(r"Status:[^#]*have not been run here", text), "README must say docker/kubectl were not run here"
    code = "\n".join(re.findall(r"^```(?:bash|sh)\n(.*?)^```", text, re.M | re.S)).replace("\\\n", " ")
    commands = [m.group(1) for m in re.finditer(r"^\s*(?:[^#\n]*-- )?sciloop (.+)$", code, re.M)]
    assert len(commands) >= 4, commands
    for cmd in commands:
        # exits (fails the test) on an unknown command or flag
        build_parser().parse_args(shlex.split(cmd.split(" #")[0]))
