"""Settings from the environment and a file; `storyloom config show` masks secrets."""

import json
import os
import subprocess
import sys

from bot.config import Settings


def test_environment_settings_and_derived_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("STORYLOOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STORYLOOM_ENGINE", "openai")
    monkeypatch.setenv("STORYLOOM_ENGINE_URLS", "http://a:8000/v1/, http://b:8000/v1")
    settings = Settings()
    assert settings.engine == "openai"
    assert settings.engine_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'storyloom.sqlite3'}"


def test_toml_file_is_read_and_environment_wins(monkeypatch, tmp_path):
    config = tmp_path / "storyloom.toml"
    config.write_text('engine = "vllm"\nmodel = "/models/smol"\nrate_limit_per_minute = 3\n')
    monkeypatch.setenv("STORYLOOM_CONFIG", str(config))
    monkeypatch.setenv("STORYLOOM_RATE_LIMIT_PER_MINUTE", "9")
    settings = Settings()
    assert (settings.engine, settings.model, settings.rate_limit_per_minute) == ("vllm", "/models/smol", 9)


def test_config_show_masks_the_token_and_database_password(tmp_path):
    secret = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-token-value"
    env = {
        **os.environ,
        "DISCORD_TOKEN": secret,
        "STORYLOOM_DATABASE_URL": "postgresql+asyncpg://story:hunter2-password@db:5432/storyloom",
        "STORYLOOM_ENGINE_API_KEY": "sk-live-key-value",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "config", "show", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    for leaked in (secret, "hunter2-password", "sk-live-key-value"):
        assert leaked not in result.stdout + result.stderr
    shown = json.loads(result.stdout)
    assert shown["discord_token"] == "********"
    assert shown["database_url"] == "postgresql+asyncpg://story:***@db:5432/storyloom"
    assert shown["engine_api_key"] == "********"
