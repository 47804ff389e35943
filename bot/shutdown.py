"""SIGTERM and SIGINT: the first asks for a clean shutdown, a second cuts the grace period short."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Counts stop signals on the running loop: `on_first` once, then `on_again` for each later one."""

    def __init__(self, on_first: Callable[[], None], on_again: Callable[[], None] = lambda: None) -> None:
        self._on_first = on_first
        self._on_again = on_again
        self.received: list[str] = []

    def __call__(self, sig: signal.Signals) -> None:
        self.received.append(sig.name)
        if len(self.received) == 1:
            log.info("%s received: shutting down", sig.name)
            self._on_first()
        else:
            log.warning("%s received again: interrupting what is still open", sig.name)
            self._on_again()

    @contextlib.contextmanager
    def installed(self) -> Iterator[bool]:
        """Handle the signals on the running loop while inside; True when they could be installed."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, self, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not Unix
                continue
            installed.append(sig)
        try:
            yield bool(installed)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
