"""Shared fixtures. Each feature's fixtures live in `tests/plugins/<feature>.py`."""

import os

# No test may reach a model hub: everything loads from shipped packages or from files the tests build.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Cores started by tests serve no metrics port unless a test asks for one (tests/test_observability.py).
os.environ.setdefault("STORYLOOM_METRICS_PORT", "0")

pytest_plugins = [
    "tests.plugins.models",
    "tests.plugins.fakediscord",
    "tests.plugins.openai_server",
    "tests.plugins.engine",
    "tests.plugins.rails",
    "tests.plugins.bot",
    "tests.plugins.database",
]
