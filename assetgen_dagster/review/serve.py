"""``assetgen-dagster review <batch>``: serve a batch's pack on loopback and open its review page.

The page loads its GLBs with fetch(), which browsers refuse for file:// pages, hence a small
local HTTP server (read-only, the pack folder only, 127.0.0.1). It serves through the pack's
``asset_pack`` link, so every request finds the version published last (a rebuild while the server
runs is what a reload shows), and tells the browser not to cache.
"""

from __future__ import annotations

import functools
import http.server
import webbrowser
from pathlib import Path

from assetgen_dagster.outputs import batch_output_dir
from assetgen_dagster.review import PAGE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a reload after a rebuild shows the new pack
        super().end_headers()


def pack_folder(output_dir: Path, batch_id: str) -> Path:
    """The published pack link of ``batch_id`` (``<output_dir>/<batch>/asset_pack``, not resolved:
    it moves to each new version), or SystemExit saying why."""
    pack = batch_output_dir(output_dir, batch_id) / "asset_pack"
    if not (pack / PAGE).is_file():
        raise SystemExit(f"no review page at {pack / PAGE}: materialize `asset_pack` for partition {batch_id!r} first")
    return pack.absolute()


def serve(pack: Path, port: int = 0, open_browser: bool = True) -> None:
    """Serve ``pack`` (a batch's ``asset_pack`` link) on 127.0.0.1:``port`` (0: a free port) until interrupted."""
    handler = functools.partial(_QuietHandler, directory=str(pack))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        url = f"http://127.0.0.1:{server.server_port}/{PAGE}"
        print(f"review page of batch {pack.parent.name}: {url}  (follows each rebuild; Ctrl-C to stop)", flush=True)
        if open_browser:
            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
