"""What the report says about the machine and the time spent: CPU seconds, the load average
over the run (was the machine shared?), and every invocation of the command."""

import datetime
import json
import os
import platform
import resource
import threading
import time

import numpy as np

from slimkeras.io import write_json_atomic


def self_cpu():
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def elapsed(start):
    """'m:ss' since `start` (a `time.time()`)."""
    s = int(time.time() - start)
    return f"{s // 60}:{s % 60:02d}"


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


class LoadSampler:
    """Samples the 1-minute load average every `interval` seconds (is the machine shared?)."""

    def __init__(self, interval=30):
        self.samples = []
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=1)
        return self.summary()

    def summary(self):
        s = self.samples or [os.getloadavg()[0]]
        return {"mean": round(float(np.mean(s)), 2), "max": round(float(np.max(s)), 2), "samples": len(s)}


class InvocationLog:
    """This invocation's entry in OUT/invocations.json (a resumed run has several), rewritten as it
    goes: an invocation killed from outside stays recorded, with its wall time up to its last
    progress line, and is marked "interrupted" by the next one.

    Args:
        out: the output folder.
        command: the command line, as the report shows it.
        sampler: the `LoadSampler` of this invocation.
    """

    def __init__(self, out, command, sampler):
        self.path = os.path.join(out, "invocations.json")
        self.sampler = sampler
        self.t0 = time.time()
        self.entries = []
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.entries = json.load(f)
        for e in self.entries:
            if e.get("status") == "running":
                e["status"] = "interrupted"
        self.entry = {"started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
                      "command": command, "status": "running", "wall_seconds": 0.0, "last": ""}
        self.entries.append(self.entry)
        self.update()

    def update(self, last=None, status=None):
        """Records the time so far, the load, and `last` (a progress line) / `status`; returns all entries."""
        self.entry["wall_seconds"] = round(time.time() - self.t0, 1)
        self.entry["load"] = self.sampler.summary()
        if last is not None:
            self.entry["last"] = last
        if status is not None:
            self.entry["status"] = status
        write_json_atomic(self.path, self.entries, indent=1)
        return self.entries
