"""The `storyloom` command: run (Discord when DISCORD_TOKEN is set, else the terminal), and operator tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from bot.cli.audit import add_audit_commands
from bot.cli.sync import add_discord_commands
from bot.terminal.parser import USAGE
from bot.config import ConfigError, Settings, check_database_url, check_for_run, load_settings


def _configure_logging(verbose: bool, settings: Settings) -> None:
    from bot.logs import configure_logging

    configure_logging(verbose=verbose, log_format=settings.log_format, secrets=settings.secrets())


def _quiet_model_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Everything loads from shipped packages or the local cache; a hub lookup here would only hang.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.discord_token is not None and settings.discord_token.get_secret_value() and not args.local:
        from bot.discord.bot import run_discord

        return run_discord(settings)
    from bot.terminal.repl import run_local

    return asyncio.run(run_local(settings, freeze_heap=True))


def cmd_config_show(args: argparse.Namespace, settings: Settings) -> int:
    shown = settings.masked()
    if args.json:
        print(json.dumps(shown, indent=2))
    else:
        width = max(len(key) for key in shown)
        for key, value in shown.items():
            print(f"{key:<{width}}  {value}")
    return 0


def cmd_models_prepare(args: argparse.Namespace, settings: Settings) -> int:
    from bot.engines.models import prepare_model

    path = prepare_model(settings, progress=True)
    print(path)
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import create_engine, upgrade

    async def _upgrade() -> None:
        engine = create_engine(settings.effective_database_url)
        await upgrade(engine, args.revision)
        await engine.dispose()

    asyncio.run(_upgrade())
    print(f"database at {args.revision}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.is_file():  # before the rails load: that takes seconds
        print(f"storyloom eval: no such file: {args.file}", file=sys.stderr)
        return 2
    from bot.core.app import load_rails
    from guardrails.evaluate import run

    try:
        rails = load_rails(settings)
        if args.unjudged:  # judged as a channel with this `unjudged` setting would judge (guardrails/rails/language.py)
            from guardrails.policy import Policy

            rails = rails.for_policy(Policy.build(unjudged=args.unjudged))
        _, text = run(
            args.file, rails, as_json=args.json, default_stage=args.stage, rows_path=args.rows, batch=args.batch,
        )
    except (OSError, ValueError) as error:
        print(f"storyloom eval: {error}", file=sys.stderr)
        return 2
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storyloom", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="run the bot (Discord when DISCORD_TOKEN is set, else the terminal)")
    run.add_argument("--local", action="store_true", help="terminal mode even when a token is set")
    run.set_defaults(handler=cmd_run)
    local = commands.add_parser(
        "local", help="terminal mode: /write, /continue, /story, /audit (one per line from a pipe works too)",
        description="The terminal mode: the same core as Discord, commands typed (or piped, one per line).\n\n" + USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    local.set_defaults(handler=cmd_run, local=True)

    config = commands.add_parser("config", help="settings").add_subparsers(dest="action", required=True)
    show = config.add_parser("show", help="print the effective settings, secrets masked")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_config_show)

    models = commands.add_parser("models", help="model files").add_subparsers(dest="action", required=True)
    models.add_parser("prepare", help="convert the default model into the cache").set_defaults(
        handler=cmd_models_prepare
    )

    evaluate = commands.add_parser("eval", help="run a labelled CSV through the rails and count the outcomes")
    evaluate.add_argument("file", type=Path, help="CSV with text, expected[, stage, rating]")
    evaluate.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    evaluate.add_argument("--stage", choices=("input", "output"), default="output", help="for rows without a stage")
    evaluate.add_argument("--rows", type=Path, metavar="OUT.csv", help="write each row's outcome and what decided it")
    evaluate.add_argument("--batch", type=int, default=64, help="texts per rail call (1: each text's latency alone)")
    evaluate.add_argument(
        "--unjudged", choices=("refuse", "hold", "allow"), help="what no rail reads (per-language table; default refuse)"
    )
    evaluate.set_defaults(handler=cmd_eval)

    add_audit_commands(commands)
    add_discord_commands(commands)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db_upgrade = db.add_parser("upgrade", help="apply migrations")
    db_upgrade.add_argument("revision", nargs="?", default="head")
    db_upgrade.set_defaults(handler=cmd_db_upgrade)
    return parser


def _check_before(args: argparse.Namespace, settings: Settings) -> None:
    """What a command needs, checked before it loads anything: a misconfiguration is one line, not a traceback."""
    if args.handler is cmd_run:
        check_for_run(settings)
    elif args.command in ("audit", "db"):
        check_database_url(settings)
    if args.command == "audit":  # the audit tools read what is there: they create no database
        from storage.db import require_database

        asyncio.run(require_database(settings.effective_database_url))


def _stdout_gone() -> None:
    """The reader of our stdout left (`| head`): stop quietly, and let nothing flush into the closed pipe at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (tests capture it): nothing will flush into a pipe
        pass


def main(argv: list[str] | None = None) -> int:
    from storage.db import NoDatabase

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(args.verbose, settings)
        _quiet_model_libraries()
        if getattr(args, "handler", None) is None:  # plain `storyloom` runs the bot
            args.handler, args.local = cmd_run, False
        _check_before(args, settings)
        return args.handler(args, settings)
    except (ConfigError, NoDatabase) as error:
        print(f"storyloom: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _stdout_gone()
        return 1


if __name__ == "__main__":
    sys.exit(main())
