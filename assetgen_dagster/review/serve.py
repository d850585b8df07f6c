"""``assetgen-dagster review <batch>``: serve a batch's pack on loopback, with pick and re-roll buttons.

The page loads its GLBs with fetch(), which browsers refuse for file:// pages, hence a small
local HTTP server (the pack folder only, 127.0.0.1). It serves through the pack's ``asset_pack``
link, so every request finds the version published last, and tells the browser not to cache.

Served by it, the page also gets a token and ``actions.js``: a pick and a re-roll button on every
candidate of an item with ``variants``. A click POSTs to the server, which checks the token, the
Host, the content type and that the item and variant exist, then writes the batch's picks file
(``picks.change_picks``). The watcher (``make ui``, ``make cluster``) or the sensor sees that file
change and launches the batch's run; the page reloads when the new pack is published.
"""

from __future__ import annotations

import functools
import hmac
import http.server
import json
import os
import secrets
import time
import urllib.parse
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assetgen_dagster.batches import BatchError, BatchSchema, batch_path, is_valid_id
from assetgen_dagster.engine.locks import locks_dir
from assetgen_dagster.outputs import batch_output_dir
from assetgen_dagster.picks import PickRefused, change_picks
from assetgen_dagster.review import PAGE

ACTIONS_JS = Path(__file__).resolve().parent / "actions.js"
API = "/_assetgen/"
MAX_BODY = 1024


def pack_folder(output_dir: Path, batch_id: str) -> Path:
    """The published pack link of ``batch_id`` (``<output_dir>/<batch>/asset_pack``, not resolved:
    it moves to each new version), or SystemExit saying why."""
    pack = batch_output_dir(output_dir, batch_id) / "asset_pack"
    if not (pack / PAGE).is_file():
        raise SystemExit(f"no review page at {pack / PAGE}: materialize `asset_pack` for partition {batch_id!r} first")
    return pack.absolute()


@dataclass
class ReviewActions:
    """What the page's buttons may change: picks and re-rolls of one batch's items."""

    prompts_dir: Path
    output_dir: Path
    batch_id: str
    schema: BatchSchema
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def authorized(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.token.encode())

    def apply(self, action: str, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer) for a pick or re-roll request body ``{"item": id, "variant": k}``."""
        if action not in ("pick", "reroll"):
            return 404, {"error": f"no action {action!r} (pick, reroll)"}
        if not isinstance(body, dict) or set(body) != {"item", "variant"}:
            return 400, {"error": 'the body must be {"item": <item id>, "variant": <number>}'}
        item, variant = body["item"], body["variant"]
        if not isinstance(item, str) or not is_valid_id(item):
            return 400, {"error": "item must be an item id (lowercase letters, digits, '_' or '-')"}
        if not isinstance(variant, int) or isinstance(variant, bool):
            return 400, {"error": "variant must be a whole number"}
        try:
            batch = self.schema.load(batch_path(self.prompts_dir, self.batch_id))
            picks = change_picks(self.prompts_dir, self.batch_id, batch, item, variant, action == "reroll",
                                 locks_dir(self.output_dir))
        except PickRefused as exc:
            return 400, {"error": str(exc)}
        except BatchError as exc:  # the batch or its picks file is invalid right now: fix it first
            return 409, {"error": str(exc)}
        return 200, {"item": item, "pick": picks.pick, "rerolled": picks.rerolled}


def pack_version(pack: Path) -> str:
    """The version folder the pack link points at ("" before the first pack): the page polls it and
    reloads when it changes."""
    try:
        return os.readlink(pack)
    except OSError:
        return ""


LONG_POLL_SECONDS, LONG_POLL_STEP = 20.0, 0.05


def wait_for_version(pack: Path, since: str | None) -> str:
    """The pack's version; given the one the page shows (``since``), wait until another is published,
    up to LONG_POLL_SECONDS (a long poll: the page hears of a new pack within 50 ms, not a poll period)."""
    deadline = time.monotonic() + LONG_POLL_SECONDS
    version = pack_version(pack)
    while since is not None and version == since and time.monotonic() < deadline:
        time.sleep(LONG_POLL_STEP)
        version = pack_version(pack)
    return version


class _ReviewHandler(http.server.SimpleHTTPRequestHandler):
    actions: ReviewActions | None = None
    pack: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a reload after a rebuild shows the new pack
        super().end_headers()

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away (a reload drops its pending long poll): nobody to answer

    def _answer(self, status: int, value: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(value).encode())

    def _local_host(self) -> bool:
        """Only pages served from this server (a name another site could rebind is refused)."""
        port = self.server.server_address[1]
        return self.headers.get("Host") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.actions is not None and path == f"{API}state":
            since = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("since")
            return self._answer(200, {"version": wait_for_version(self.pack, since[0] if since else None)})
        if self.actions is not None and path == f"{API}actions.js":
            return self._send(200, "text/javascript", ACTIONS_JS.read_bytes())
        if self.actions is not None and path in ("/", f"/{PAGE}"):
            return self._page()
        return super().do_GET()

    def _page(self) -> None:
        """The pack's page with the token and the buttons' script."""
        html = (self.pack / PAGE).read_text(encoding="utf-8")
        extra = (f'<meta name="assetgen-token" content="{self.actions.token}">'
                 f'<script src="{API}actions.js" defer></script>')
        self._send(200, "text/html; charset=utf-8", html.replace("</head>", extra + "</head>", 1).encode())

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.actions is None or not path.startswith(API):
            return self._answer(405, {"error": "this server changes nothing there"})
        if not self._local_host():
            return self._answer(403, {"error": "requests must come from the page this server served"})
        if not self.actions.authorized(self.headers.get("X-Assetgen-Token")):
            return self._answer(403, {"error": "missing or wrong token: reload the page the server served"})
        if self.headers.get_content_type() != "application/json":
            return self._answer(415, {"error": "the body must be JSON (Content-Type: application/json)"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._answer(413, {"error": f"the body is larger than {MAX_BODY} bytes"})
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return self._answer(400, {"error": "the body is not valid JSON"})
        status, answer = self.actions.apply(path[len(API):], body)
        return self._answer(status, answer)


def review_server(pack: Path, actions: ReviewActions | None, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server for ``pack`` (a batch's ``asset_pack`` link) on 127.0.0.1:``port`` (0: a free port);
    with ``actions``, the page gets the pick and re-roll buttons."""
    handler = type("ReviewHandler", (_ReviewHandler,), {"actions": actions, "pack": pack})
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(pack)))


def serve(pack: Path, actions: ReviewActions | None, port: int = 0, open_browser: bool = True) -> None:
    """Serve ``pack`` until interrupted."""
    with review_server(pack, actions, port) as server:
        url = f"http://127.0.0.1:{server.server_port}/{PAGE}"
        print(f"review page of batch {pack.parent.name}: {url}  (follows each rebuild; picks and re-rolls go "
              f"to the batch's picks file, which the watcher or the sensor runs; Ctrl-C to stop)", flush=True)
        if open_browser:
            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
