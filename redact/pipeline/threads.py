"""Threads joined by bounded queues: errors travel to the caller, end markers are always sent."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Stopped(Exception):
    """Raised inside a worker when the run was stopped from outside."""


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise Stopped
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


class Producer:
    """Runs ``make_items()`` in a thread, feeding a bounded queue; iterate it to consume."""

    def __init__(self, name: str, make_items: Callable[[], Iterable[Any]], maxsize: int = 8) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(make_items,), name=name, daemon=True)
        self.thread.start()

    def _run(self, make_items: Callable[[], Iterable[Any]]) -> None:
        final: Any = _END
        try:
            for item in make_items():
                _put(self.queue, item, self.stop)
        except Stopped:
            return
        except BaseException as exc:  # carried to the consumer, re-raised there
            final = _Failure(exc)
        finally:
            if not self.stop.is_set():
                try:
                    _put(self.queue, final, self.stop)
                except Stopped:
                    pass

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class Consumer:
    """Runs ``handle(item)`` for each submitted item in a thread; errors surface on the next submit or on
    finish. As a context manager it finishes when its block succeeds and closes when it fails."""

    def __init__(self, name: str, handle: Callable[[Any], None], maxsize: int = 8) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(handle,), name=name, daemon=True)
        self.thread.start()

    def _run(self, handle: Callable[[Any], None]) -> None:
        try:
            while True:
                item = self.queue.get()
                if item is _END:
                    return
                handle(item)
        except BaseException as exc:
            self.error = exc
            self.stop.set()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """After the block: wait for every item when it succeeded, stop at once when it failed."""
        if exc_type is None:
            self.finish()
        else:
            self.close()

    def submit(self, item: Any) -> None:
        self._check()
        try:
            _put(self.queue, item, self.stop)
        except Stopped:
            self._check()
            raise

    def finish(self) -> None:
        """Wait for every submitted item to be handled; re-raise a worker error."""
        try:
            _put(self.queue, _END, self.stop)
        except Stopped:
            pass
        self.thread.join()
        self._check()

    def close(self) -> None:
        """Stop without waiting for the queue to drain (after a failure elsewhere)."""
        self.stop.set()
        while self.thread.is_alive():
            try:
                while True:
                    self.queue.get_nowait()
            except queue.Empty:
                pass
            try:
                self.queue.put_nowait(_END)
            except queue.Full:
                pass
            self.thread.join(timeout=0.1)

    def _check(self) -> None:
        if self.error is not None:
            raise self.error
