"""`assetgen-dagster watch` launches only what the sensor would: a valid, registered batch whose
content has no run yet (the end-to-end launch is in test_scale_out.py)."""

import os

import pytest
from dagster import DagsterInstance

from assetgen_dagster.cluster.watch import LaunchError, launch_run, on_saved
from assetgen_dagster.engine.batches import BATCH_HASH_TAG
from assetgen_dagster.jobs import BatchRun
from assetgen_dagster.launches import last_launch
from assetgen_dagster.partitions import PROMPT_BATCHES

from ..conftest import REGISTRY, sensor_tick, write_batch

NOWHERE = "http://127.0.0.1:9/graphql"  # nothing listens: a launch attempt raises


def test_invalid_or_new_files_launch_nothing_and_a_failed_launch_leaves_it_to_the_sensor(workdir):
    instance = DagsterInstance.ephemeral()
    outputs = workdir / "outputs"
    bad = write_batch(workdir / "prompts", "broken", "items: [{id: Rock, kind: concept_art, prompt: x}]\n")
    assert on_saved(bad, instance, NOWHERE, REGISTRY, outputs) is None  # invalid: the sensor records it
    new = write_batch(workdir / "prompts", "fresh", "items: [{id: rock, kind: concept_art, prompt: a rock}]\n")
    assert on_saved(new, instance, NOWHERE, REGISTRY, outputs) is None  # not a partition yet: the sensor registers it
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["fresh"])
    with pytest.raises(OSError):  # registered, valid and never launched: it tries the webserver
        on_saved(new, instance, NOWHERE, REGISTRY, outputs)
    assert last_launch(outputs, "fresh") is None  # the failed launch withdrew its claim
    [request] = sensor_tick(instance).run_requests  # so the sensor launches it
    assert request.partition_key == "fresh"


def test_a_save_launches_once_edits_and_reverts_launch_again(workdir, graphql):
    url, seen, reply = graphql
    reply.update({"__typename": "LaunchRunSuccess", "run": {"runId": "abc"}})
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["village"])
    outputs, first = workdir / "outputs", "items: [{id: well, kind: concept_art, prompt: a stone well}]\n"
    path = write_batch(workdir / "prompts", "village", first)
    assert on_saved(path, instance, url, REGISTRY, outputs) == "abc"
    assert on_saved(path, instance, url, REGISTRY, outputs) is None  # the same save seen twice
    assert last_launch(outputs, "village").by == "watch"
    assert sensor_tick(instance).run_requests == []  # the sensor sees it was launched: no second run
    write_batch(workdir / "prompts", "village", first.replace("stone", "wooden"))
    assert on_saved(path, instance, url, REGISTRY, outputs) == "abc"  # an edit
    write_batch(workdir / "prompts", "village", first)
    assert on_saved(path, instance, url, REGISTRY, outputs) == "abc"  # a revert lands too
    os.utime(path)
    assert on_saved(path, instance, url, REGISTRY, outputs) is None  # touched, same content
    assert len(seen) == 3


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


def test_thirty_saves_at_random_points_of_the_sensor_loop_launch_each_content_once(workdir, graphql):
    """The sensor ticks in a loop while each save is also seen by the watcher at once: whichever looks
    first claims the launch (launches.py), so every content is launched exactly once, never twice."""
    import random
    import threading
    import time
    from collections import Counter

    from assetgen_dagster.batches import batch_hash

    from ..conftest import parse_batch

    url, seen, reply = graphql
    reply.update({"__typename": "LaunchRunSuccess", "run": {"runId": "abc"}})
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["storm"])
    outputs, path = workdir / "outputs", workdir / "prompts" / "storm.yaml"
    by_sensor: Counter = Counter()
    stop = threading.Event()

    def sensor_loop() -> None:  # the daemon's loop, faster
        cursor = None
        while not stop.is_set():
            result = sensor_tick(instance, cursor)
            cursor = result.cursor
            by_sensor.update(request.tags[BATCH_HASH_TAG] for request in result.run_requests)
            time.sleep(0.02)

    def by_watcher() -> Counter:
        return Counter({tag["value"] for tag in post["variables"]["params"]["executionMetadata"]["tags"]
                        if tag["key"] == BATCH_HASH_TAG}.pop() for post in list(seen))

    loop = threading.Thread(target=sensor_loop)
    loop.start()
    rng, contents = random.Random(25), []
    try:
        for n in range(30):
            time.sleep(rng.uniform(0, 0.04))  # a random point of the sensor's loop
            text = f"items: [{{id: well, kind: concept_art, prompt: 'a stone well, take {n}'}}]\n"
            saved = path.with_name(".storm.yaml.swp")
            saved.write_text(text)
            os.replace(saved, path)  # an editor's save: the file is whole whenever it is read
            contents.append(batch_hash(parse_batch(text)))
            time.sleep(rng.uniform(0, 0.04))  # the watcher's reaction time (its debounce is 50 ms)
            on_saved(path, instance, url, REGISTRY, outputs)
            deadline = time.monotonic() + 5
            while by_sensor[contents[-1]] + by_watcher()[contents[-1]] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.2)  # time for a late second launch to show
    finally:
        stop.set()
        loop.join()
    launched = by_sensor + by_watcher()
    assert [launched[content] for content in contents] == [1] * 30
    assert sum(by_sensor.values()) and sum(by_watcher().values()), "both launchers won some of the races"


def test_a_saved_reference_clip_checks_the_batches_that_reference_it(workdir, graphql):
    from assetgen_dagster.cluster.watch import batches_to_check

    url, seen, reply = graphql
    reply.update({"__typename": "LaunchRunSuccess", "run": {"runId": "ref"}})
    prompts, outputs = workdir / "prompts", workdir / "outputs"
    (prompts / "refs").mkdir()
    clip = prompts / "refs" / "guard.wav"
    clip.write_bytes(b"first take")
    cast = write_batch(prompts, "cast", 'voices:\n  guard: {reference: refs/guard.wav, transcript: "Ah."}\n'
                                        'items:\n  - {id: halt, kind: voice, text: "Halt!", voice: guard}\n')
    other = write_batch(prompts, "props", "items: [{id: well, kind: concept_art, prompt: a stone well}]\n")
    write_batch(prompts, "broken", "items: [\n")  # unreadable batches are skipped, not fatal
    assert batches_to_check({clip}, prompts, REGISTRY.schema) == [cast]
    assert batches_to_check({other, prompts / "refs" / "unused.wav"}, prompts, REGISTRY.schema) == [other]

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["cast"])
    assert on_saved(cast, instance, url, REGISTRY, outputs) == "ref"
    assert on_saved(cast, instance, url, REGISTRY, outputs) is None  # nothing changed
    clip.write_bytes(b"second take")
    assert on_saved(cast, instance, url, REGISTRY, outputs) == "ref"  # the clip's bytes are the batch's content
    assert len(seen) == 2
