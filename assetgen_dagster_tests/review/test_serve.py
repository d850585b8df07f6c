"""`assetgen-dagster review <batch>`: the review server follows the pack the batch publishes last
(a rebuild while it runs is what the next request gets) and names the batch."""

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from assetgen_dagster.cluster.servers import free_port, wait_until


def publish(batch_dir: Path, version: str, page: str) -> None:
    """What the pack asset does: a new version folder, the link moved to it, the old ones removed."""
    (batch_dir / ".packs" / version).mkdir(parents=True)
    (batch_dir / ".packs" / version / "index.html").write_text(page)
    tmp = batch_dir / ".asset_pack.tmp"
    tmp.symlink_to(Path(".packs") / version)
    os.replace(tmp, batch_dir / "asset_pack")
    for old in (batch_dir / ".packs").iterdir():
        if old.name != version:
            shutil.rmtree(old)


def test_the_review_server_follows_each_rebuild(tmp_path):
    batch_dir = tmp_path / "outputs" / "ui_kit"
    publish(batch_dir, "v1", "<title>first</title>")
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("assetgen-dagster")), "review", "ui_kit", "--no-open",
                               "--port", str(port)], env={**os.environ, "ASSETGEN_OUTPUT_DIR": str(tmp_path / "outputs")},
                              stdout=subprocess.PIPE, text=True)
    try:
        banner = server.stdout.readline()
        assert f"review page of batch ui_kit: http://127.0.0.1:{port}/index.html" in banner

        def page() -> tuple[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as response:
                return response.read().decode(), response.headers["Cache-Control"]

        assert wait_until(lambda: page()[0] == "<title>first</title>", 30, "the first page") is True
        publish(batch_dir, "v2", "<title>second</title>")
        assert page() == ("<title>second</title>", "no-store")  # not a 404 from the removed v1
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_page_hears_of_a_new_pack_at_once_through_a_long_poll(tmp_path):
    """`state?since=<shown>` answers when another version is published (not after a poll period), and
    at once when the shown one is already stale; without `since`, at once."""
    import json
    import threading
    import time

    from assetgen_dagster.review.serve import ReviewActions, review_server

    from ..conftest import REGISTRY

    batch_dir = tmp_path / "outputs" / "props"
    publish(batch_dir, "v1", "<title>first</title>")
    server = review_server(batch_dir / "asset_pack", ReviewActions(tmp_path, tmp_path / "outputs", "props", REGISTRY.schema))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state = f"http://127.0.0.1:{server.server_port}/_assetgen/state"

    def version(query: str = "") -> str:
        with urllib.request.urlopen(state + query, timeout=30) as response:
            return json.loads(response.read())["version"]

    try:
        assert version() == ".packs/v1"
        answered: list[tuple[str, float]] = []
        waiting = threading.Thread(target=lambda: answered.append((version("?since=.packs/v1"), time.monotonic())))
        waiting.start()
        time.sleep(0.5)
        assert answered == []  # still waiting: nothing new
        published = time.monotonic()
        publish(batch_dir, "v2", "<title>second</title>")
        waiting.join(timeout=10)
        [(seen, at)] = answered
        assert seen == ".packs/v2" and at - published < 5  # on the publish, not at the 20 s deadline
        assert version("?since=.packs/v1") == ".packs/v2"  # already stale: no wait
    finally:
        server.shutdown()
