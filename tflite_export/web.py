"""Serves the browser demo (`web_demo/`) and an export on 127.0.0.1.

    python -m tflite_export.web EXPORT_DIR [--port=8000] [--samples=8]

The page runs the export's `.tflite` files in LiteRT.js (WebAssembly), checks the manifest as
the app does, benchmarks every width in the page and switches width under a budget slider with
the app's policy. Everything is served from this machine (no CDN) with the cross-origin
isolation headers (COOP `same-origin`, COEP `require-corp`) that LiteRT.js' threads and
`performance.now()`'s full resolution need. Only the page's files, LiteRT.js' package files
and the export folder are served. The command checks that EXPORT_DIR holds a manifest of
schema version 1; the page checks the rest (paths, sizes, SHA-256, labels) and shows what it
refuses. Needs `npm ci` in web_demo/ (the pinned `@litertjs/core`).
"""

import argparse
import http.server
import mimetypes
import os
import posixpath
import sys
import urllib.parse

WEB_DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web_demo")
# URL prefix -> folder under web_demo/ (the export and the samples are added per server).
PAGE_ROUTES = {
    "/src/": "src",
    "/node_modules/@litertjs/core/": "node_modules/@litertjs/core",
    "/node_modules/@litertjs/wasm-utils/": "node_modules/@litertjs/wasm-utils",
}
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
         ".json": "application/json", ".html": "text/html; charset=utf-8", ".css": "text/css",
         ".txt": "text/plain; charset=utf-8", ".png": "image/png", ".tflite": "application/octet-stream"}


def check_page():
    """Raises ValueError unless web_demo/ and its installed LiteRT.js package are there."""
    if not os.path.isfile(os.path.join(WEB_DEMO, "index.html")):
        raise ValueError(f"the page is missing: no {os.path.join(WEB_DEMO, 'index.html')} "
                         "(run from a slimkeras checkout).")
    if not os.path.isdir(os.path.join(WEB_DEMO, "node_modules", "@litertjs", "core", "wasm")):
        raise ValueError(f"LiteRT.js is not installed: run `npm ci` in {WEB_DEMO}.")


class Handler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD of the page, LiteRT.js, the export (`/export/...`) and samples (`/samples/...`)."""

    routes = {}     # URL prefix -> folder
    samples = {}    # URL path -> bytes (generated PNGs and their index)
    quiet = False

    def do_GET(self):
        self._serve(body=True)

    def do_HEAD(self):
        self._serve(body=False)

    def _serve(self, body):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            path = "/index.html"
        content = self.samples.get(path)
        if content is None:
            file = self._file(path)
            if file is None:
                self.send_error(404, "not found")
                return
            with open(file, "rb") as f:
                content = f.read()
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(posixpath.splitext(path)[1],
                                                   mimetypes.guess_type(path)[0] or "application/octet-stream"))
        self.send_header("Content-Length", str(len(content)))
        for key, value in HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(content)

    def _file(self, path):
        """The file that `path` names inside one served folder, or None."""
        path = urllib.parse.unquote(path)
        if path == "/index.html":
            return os.path.join(WEB_DEMO, "index.html")
        for prefix, folder in self.routes.items():
            if path.startswith(prefix):
                parts = path[len(prefix):].split("/")
                if any(p in ("", ".", "..") or "\\" in p for p in parts):
                    return None
                file = os.path.realpath(os.path.join(folder, *parts))
                inside = file.startswith(os.path.realpath(folder) + os.sep)
                return file if inside and os.path.isfile(file) else None
        return None

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


def make_server(export_dir, port=8000, samples=8, quiet=False):
    """An HTTP server on 127.0.0.1:`port` (0: any free port) for the page and `export_dir`.

    Raises:
        ValueError: the page or LiteRT.js is missing, or `export_dir` holds no manifest
            of schema version 1 (ManifestError).
        OSError: the port cannot be bound.
    """
    import json

    from tflite_export import manifest as manifest_lib
    from tflite_export.web_samples import fashion_samples

    check_page()
    manifest = manifest_lib.read_manifest(export_dir)
    files = fashion_samples(manifest, samples) if samples else []
    index = [{"name": name, "label": label, "url": f"/samples/{name}.png"} for name, label, _ in files]
    handler = type("ExportHandler", (Handler,), {
        "routes": {**{p: os.path.join(WEB_DEMO, d) for p, d in PAGE_ROUTES.items()},
                   "/export/": os.path.abspath(export_dir)},
        "samples": {"/samples/index.json": json.dumps(index).encode(),
                    **{f"/samples/{name}.png": png for name, _, png in files}},
        "quiet": quiet,
    })
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(export_dir, port, samples):
    """Serves until interrupted; prints the URL first."""
    try:
        server = make_server(export_dir, port, samples)
    except OSError as e:
        raise ValueError(f"--port={port}: cannot listen on 127.0.0.1:{port} ({e.strerror}).") from None
    print(f"Serving {os.path.abspath(export_dir)} at http://127.0.0.1:{server.server_address[1]}/ "
          "(Ctrl+C stops)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv=None):
    """`python -m tflite_export.web`; returns the exit code (2 after one `error:` line)."""
    from slimkeras.cli import ArgumentParser, Number, run

    parser = ArgumentParser(prog="python -m tflite_export.web", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export_dir", help="an export directory (holding manifest.json)")
    parser.add_argument("--port", type=Number(0, 65535, integer=True), default=8000, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--samples", type=Number(0, 100, integer=True), default=8,
                        help="test images of the dataset offered as samples (Fashion-MNIST exports)")
    args = parser.parse_args(argv)
    return run(lambda: serve(args.export_dir, args.port, args.samples))


if __name__ == "__main__":
    sys.exit(main())
