"""Typed slash commands (terminal mode) and Discord message splitting."""

import pytest

from bot.terminal.parser import CommandError, parse
from bot.discord.delivery import MESSAGE_LIMIT, split_for_discord


def test_write_with_options():
    command = parse('/write poem about a lighthouse keeper tone:"quietly hopeful" length:short')
    assert (command.name, command.kind, command.text) == ("write", "poem", "a lighthouse keeper")
    assert command.options == {"tone": "quietly hopeful", "length": "short"}


def test_apostrophes_and_colons_in_the_subject_survive():
    command = parse("/write story about the king's crown: a mystery")
    assert command.text == "the king's crown: a mystery"


def test_continue_takes_an_optional_direction():
    assert parse("/continue").text == ""
    assert parse("/continue the storm breaks").text == "the storm breaks"


@pytest.mark.parametrize("line", ["write poem", "/write sonnet about x", "/dance", "/write poem x length:huge"])
def test_bad_commands_explain_themselves(line):
    with pytest.raises(CommandError) as error:
        parse(line)
    assert str(error.value)


def test_split_keeps_every_part_under_the_limit_and_the_footer_last():
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 120 for n in range(8))
    parts = split_for_discord(text, "-# footer")
    assert len(parts) > 1
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert parts[-1].endswith("-# footer")
    assert " ".join(" ".join(parts).split()).startswith("Paragraph 0.")
    rejoined = " ".join(" ".join(parts).replace("-# footer", "").split())
    assert rejoined == " ".join(text.split())


def test_split_cuts_unbroken_text_hard():
    parts = split_for_discord("x" * 4500, "-# f")
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert "".join(parts).replace("\n-# f", "") == "x" * 4500
