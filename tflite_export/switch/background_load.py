"""Busy processes that simulate a background load on the CPU (stdlib only).

Kept apart from the switch command so that the spawned processes import
nothing heavy.
"""

import multiprocessing


def _busy(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


class BackgroundLoad:
    """`processes` busy-looping processes, started and stopped on demand.

    Args:
        processes: how many processes to run while started.
    """

    def __init__(self, processes):
        self.processes = processes
        self._stop = None
        self._workers = []

    @property
    def running(self):
        return bool(self._workers)

    def start(self):
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._workers = [context.Process(target=_busy, args=(self._stop,), daemon=True)
                         for _ in range(self.processes)]
        for worker in self._workers:
            worker.start()

    def stop(self):
        if self._workers:
            self._stop.set()
            for worker in self._workers:
                worker.join(timeout=5)
            self._workers = []
