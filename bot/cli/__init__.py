"""The `storyloom` command line: the entry point (`main`) and its audit and erase subcommands."""

from bot.cli.main import main

__all__ = ["main"]
