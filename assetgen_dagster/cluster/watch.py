"""``assetgen-dagster watch``: launch a batch's run the moment its file is saved.

Dagster's sensor daemon evaluates sensors on a fixed 5 s loop, which is most of an edit's latency
once a hot worker makes the run itself take about a second. This process watches the prompts
folder and its subfolders (watchfiles: inotify on Linux) and, for a valid batch whose content (the
file and the files it references, such as a cast's reference clips) needs a run, launches
the run the sensor would have requested through the webserver's GraphQL API (``launchRun``, what
the UI's Materialize button calls): the same job, asset selection, partition and content-hash tag.
The sensor stays the fallback: it registers new partitions, records invalid files and launches
what the watcher did not. Both claim each launch first (``launches.py``), so one save never gets
two runs, whichever looks first.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

from assetgen_dagster.batches import BatchError, BatchSchema, batch_id_for, is_batch_file, scan_batch_files
from assetgen_dagster.jobs import JOB, BatchRun, batch_run
from assetgen_dagster.launches import claim_launch, packed_hash, read_batch
from assetgen_dagster.partitions import PROMPT_BATCHES
from assetgen_dagster.registry import Registry

log = logging.getLogger(__name__)

TRIGGER_TAG = "assetgen/trigger"
LOCATION, REPOSITORY = "assetgen_dagster", "__repository__"
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on PythonError { message }
  }
}
"""


class LaunchError(RuntimeError):
    """The webserver refused or failed the launch."""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """POST one GraphQL query to the webserver; its JSON answer (``data`` and/or ``errors``)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def launch_run(graphql_url: str, run: BatchRun, trigger: str = "watch") -> str:
    """Launch ``generate_batch`` for the batch's assets and partition (the run the sensor would
    request) through the webserver, tagged with who launched it; return the run id."""
    tags = {**run.tags, TRIGGER_TAG: trigger}
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": JOB,
                     "assetSelection": [{"path": [name]} for name in run.assets]},
        "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in tags.items()]},
    }
    answer = graphql(graphql_url, LAUNCH_RUN, {"params": params})
    result = (answer.get("data") or {}).get("launchRun") or {}
    if result.get("__typename") != "LaunchRunSuccess":
        raise LaunchError(f"{run.batch_id}: {result.get('__typename') or answer.get('errors')}: "
                          f"{result.get('message', '')}")
    return result["run"]["runId"]


def on_saved(path: Path, instance, graphql_url: str, registry: Registry, output_dir: Path) -> str | None:
    """Launch the run for one saved batch file if it is valid, registered and its launch is ours to
    claim (launches.py: the sensor claims the same way); return the run id, or None (the sensor
    handles new and invalid files). A failed launch withdraws the claim, so the sensor launches it."""
    try:
        batch_id = batch_id_for(path)
        batch, still_read = read_batch(path, registry.schema)
    except BatchError as exc:
        log.warning("not launching: %s", exc)  # the sensor records it in the UI
        return None
    if not instance.has_dynamic_partition(PROMPT_BATCHES, batch_id):
        return None
    content_hash = registry.schema.content_hash(batch, path.parent, batch_id)
    claim = claim_launch(output_dir, batch_id, content_hash, "watch", still_read, lambda: packed_hash(instance, batch_id))
    if claim is None:
        return None
    try:
        run_id = launch_run(graphql_url, batch_run(instance, registry, batch_id, batch, content_hash))
    except BaseException:
        claim.withdraw()
        raise
    log.info("%s changed: launched run %s", path.name, run_id)
    return run_id


def batches_to_check(saved: set[Path], prompts_dir: Path, schema: BatchSchema) -> list[Path]:
    """The batch files a set of saved files concerns: those saved, and those that reference a saved
    file (a cast's reference clip), found by reading the folder's batches when a non-batch file changed."""
    batches = {path for path in saved if is_batch_file(path) and path.parent == prompts_dir}
    others = {path.resolve() for path in saved if path not in batches}
    if others:
        for path in scan_batch_files(prompts_dir):
            try:
                batch, _ = read_batch(path, schema)
            except (BatchError, OSError):
                continue
            if any((prompts_dir / name).resolve() in others for name in schema.references(batch, path.stem)):
                batches.add(path)
    return sorted(batches)


def watch(prompts_dir: Path, graphql_url: str, registry: Registry, output_dir: Path) -> None:
    """Launch runs for saved batch files, and for batches whose referenced files were saved, until
    interrupted."""
    import watchfiles
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        for changes in watchfiles.watch(prompts_dir, debounce=50, step=10, recursive=True):
            saved = {Path(name) for change, name in changes if change != watchfiles.Change.deleted}
            for path in batches_to_check(saved, prompts_dir, registry.schema):
                try:
                    on_saved(path, instance, graphql_url, registry, output_dir)
                except (LaunchError, OSError) as exc:  # the sensor's next tick launches it instead
                    log.warning("could not launch a run for %s: %s", path.name, exc)
