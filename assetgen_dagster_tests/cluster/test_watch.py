"""`assetgen-dagster watch` launches only what the sensor would: a valid, registered batch whose
content has no run yet (the end-to-end launch is in test_scale_out.py)."""

import pytest
from dagster import DagsterInstance

from assetgen_dagster.cluster.watch import LaunchError, launch_run, on_saved
from assetgen_dagster.jobs import BatchRun
from assetgen_dagster.partitions import PROMPT_BATCHES

from ..conftest import REGISTRY, write_batch

NOWHERE = "http://127.0.0.1:9/graphql"  # nothing listens: a launch attempt raises


def test_invalid_new_or_already_launched_files_launch_nothing(workdir):
    instance = DagsterInstance.ephemeral()
    bad = write_batch(workdir / "prompts", "broken", "items: [{id: Rock, kind: concept_art, prompt: x}]\n")
    assert on_saved(bad, instance, NOWHERE, REGISTRY) is None  # invalid: the sensor records it
    new = write_batch(workdir / "prompts", "fresh", "items: [{id: rock, kind: concept_art, prompt: a rock}]\n")
    assert on_saved(new, instance, NOWHERE, REGISTRY) is None  # not a partition yet: the sensor registers it
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["fresh"])
    with pytest.raises(OSError):  # registered, valid and never launched: it tries the webserver
        on_saved(new, instance, NOWHERE, REGISTRY)


@pytest.fixture
def graphql():
    """A loopback stand-in for the webserver's /graphql: records each request, answers ``reply``."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen, reply = [], {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"data": {"launchRun": reply}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/graphql", seen, reply
    server.shutdown()


def test_the_launch_asks_for_the_batch_assets_partition_and_content(graphql):
    url, seen, reply = graphql
    reply.update({"__typename": "LaunchRunSuccess", "run": {"runId": "abc"}})
    assert launch_run(url, BatchRun("village", "f" * 64, ("concept_art", "asset_pack"))) == "abc"
    params = seen[0]["variables"]["params"]
    assert params["selector"]["jobName"] == "generate_batch"
    assert params["selector"]["assetSelection"] == [{"path": ["concept_art"]}, {"path": ["asset_pack"]}]
    tags = {tag["key"]: tag["value"] for tag in params["executionMetadata"]["tags"]}
    assert tags == {"dagster/partition": "village", "assetgen/batch_hash": "f" * 64, "assetgen/trigger": "watch",
                    "dagster-celery/queue": "gpu"}
    reply.clear()
    reply.update({"__typename": "InvalidSubsetError", "message": "no asset named concept_art"})
    with pytest.raises(LaunchError, match="InvalidSubsetError: no asset named concept_art"):
        launch_run(url, BatchRun("village", "f" * 64, ("concept_art",)))
