"""The `storyloom` command line: the entry point (`main`, bot/cli/main.py) and its subcommands (audit, erase,
discord sync)."""


def main(argv: list[str] | None = None) -> int:
    """The console script. bot/cli/main.py is imported only when it runs, so `python -m bot.cli.main` does not find
    it imported already (runpy warns, on stderr, that it would then run twice)."""
    from bot.cli.main import main as run

    return run(argv)


__all__ = ["main"]
