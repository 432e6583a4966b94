"""The resumable evaluation cache: every evaluation, keyed by the settings that produced it and the
architecture's channel counts, so a rerun (or a run after a kill) measures nothing twice."""

import json

from tflite_export.errors import SearchError

CACHE_NAME = "cache.json"
CACHE_VERSION = 1


class Cache:
    """OUT/cache.json: `{version, model_sha256, sections: {section: {settings: {signature: entry}}}}`.

    Holds entries in memory until `attach(path)` (the output directory may not exist before the
    target is known to be reachable); from then on every `put` rewrites the file atomically.

    Args:
        model_sha256: the sha256 of the searched model file.
        data: the loaded cache contents (None: an empty cache).
    """

    def __init__(self, model_sha256, data=None):
        self.data = data or {"version": CACHE_VERSION, "model_sha256": model_sha256, "sections": {}}
        self.path = None
        self.hits = 0
        self.new = {}  # section -> number of entries added in this run

    @classmethod
    def load(cls, path, model_sha256):
        """The cache at `path`; raises SearchError if it is unreadable or holds another model's search."""
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise SearchError(f"{path} is not a readable search cache ({e}); "
                              "remove it or choose another --out.") from None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            raise SearchError(f"{path} is not a version-{CACHE_VERSION} search cache; choose another --out.")
        if data.get("model_sha256") != model_sha256:
            other = str(data.get("model_sha256"))[:12]
            raise SearchError(f"{path} holds the search of another model (sha256 {other}…); "
                              "choose another --out for this model.")
        return cls(model_sha256, data)

    def get(self, section, settings, key):
        """The entry, or None; counts hits."""
        entry = self.data["sections"].get(section, {}).get(settings, {}).get(key)
        if entry is not None:
            self.hits += 1
        return entry

    def put(self, section, settings, key, entry):
        """Stores `entry` (and writes the file once attached)."""
        self.data["sections"].setdefault(section, {}).setdefault(settings, {})[key] = entry
        self.new[section] = self.new.get(section, 0) + 1
        self.flush()

    def attach(self, path):
        """Writes the cache to `path` from now on."""
        self.path = path
        self.flush()

    def flush(self):
        if self.path is None:
            return
        from slimkeras.io import write_json_atomic

        write_json_atomic(self.path, self.data, indent=1)
