"""The default loop as a user meets it: `assetgen-dagster demo` (`make demo`), then
`assetgen-dagster ui` (`make ui`: the daemon, the webserver, the watcher and a hot Celery worker on
SQLite and the filesystem broker), both as real processes on a temporary DAGSTER_HOME.

Opening the UI launches nothing for current batches; every asset is materialized for every batch
(none "missing"); the demo's runs re-execute from the UI; an edit lands, a revert brings the earlier
pixels back, a touch launches nothing; an invalid file fails a check on the asset graph until it
is fixed; the asset page shows the same metadata keys and a preview; the automation sensor
follows a textures run; Ctrl-C stops every process the command started."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from PIL import Image

from assetgen_dagster.batches import batch_hash
from assetgen_dagster.cluster.servers import free_port
from assetgen_dagster.cluster.servers import wait_until as wait_for
from assetgen_dagster.cluster.watch import graphql, launch_run
from assetgen_dagster.jobs import BatchRun

from .browser import watch_console
from .conftest import PROJECT_ROOT, load_batch, sensor_tick_starts, wait_for_a_tick, write_batch

BATCHES = {
    "mats": """\
        defaults: {seed: 2}
        items:
          - {id: floor, kind: texture, prompt: "a stone floor"}
          - {id: hall, kind: concept_art, prompt: "a great hall"}
        """,
    "kit": """\
        items:
          - {id: coin, kind: icon, prompt: "a coin", sizes: [64, 32]}
        """,
}
SCREENSHOTS = Path("/tmp/assetgen-ui-screenshots")
SENSOR = "prompt_batch_sensor"


def runs(home: Path) -> list:
    with DagsterInstance.from_config(str(home)) as instance:
        return [record.dagster_run for record in instance.get_run_records()]


def sensor_ticks(home: Path, name: str = SENSOR) -> list[float]:
    with DagsterInstance.from_config(str(home)) as instance:
        return sensor_tick_starts(instance, name)


def after_a_tick(home: Path, name: str = SENSOR) -> None:
    wait_for_a_tick(lambda: DagsterInstance.from_config(str(home)), name)


def idle(home: Path) -> bool:
    return all(run.is_finished for run in runs(home))


def descendants(pid: int) -> set[int]:
    """Every process started by ``pid`` (its children, theirs...), from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(scope="module")
def ui(tiny_kit, tmp_path_factory):
    """`assetgen-dagster demo` over two small batches, then `assetgen-dagster ui` on the same home."""
    work = tmp_path_factory.mktemp("ui")
    home, prompts, outputs = work / "dagster_home", work / "prompts", work / "outputs"
    prompts.mkdir()
    for batch_id, text in BATCHES.items():
        write_batch(prompts, batch_id, text)
    env = {**os.environ, "DAGSTER_HOME": str(home), "ASSETGEN_PROMPTS_DIR": str(prompts),
           "ASSETGEN_OUTPUT_DIR": str(outputs), "ASSETGEN_SENSOR_INTERVAL_SECONDS": "2",
           "ASSETGEN_DEVICE_LOCK_DIR": str(work / "devices")}
    command = str(Path(sys.executable).with_name("assetgen-dagster"))
    demo = subprocess.run([command, "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    port = free_port()
    process = subprocess.Popen([command, "ui", "--port", str(port)], cwd=PROJECT_ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    printed = []
    try:
        deadline = time.monotonic() + 240
        while not any("Dagster UI:" in line for line in printed):
            line = process.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(printed)
            printed.append(line)
        yield {"base": f"http://127.0.0.1:{port}", "home": home, "work": work, "env": env, "process": process,
               "demo": demo.stdout, "printed": printed}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()


def test_opening_the_ui_launches_no_run_for_current_batches(ui):
    demo_runs = runs(ui["home"])
    assert sorted(run.tags["dagster/partition"] for run in demo_runs) == ["kit", "mats"]
    after_a_tick(ui["home"])
    assert {run.run_id for run in runs(ui["home"])} == {run.run_id for run in demo_runs}
    assert "1 worker(s) ready: worker0-cpu@" in "".join(ui["printed"])


def test_the_demo_materializes_every_asset_for_every_batch_and_its_runs_re_execute(ui):
    assert "launched 2 run(s)" in ui["demo"] and re.search(r"mats +textures +1/1 items \(1 made", ui["demo"])
    nodes = graphql(f"{ui['base']}/graphql", "{ assetNodes { assetKey { path } partitionStats "
                                             "{ numMaterialized numPartitions numFailed } } }")["data"]["assetNodes"]
    stats = {node["assetKey"]["path"][0]: node["partitionStats"] for node in nodes if node["partitionStats"]}
    assert len(stats) > 10 and all(s == {"numMaterialized": 2, "numPartitions": 2, "numFailed": 0}
                                   for s in stats.values()), stats  # no kind shows a batch as missing
    [parent] = [run for run in runs(ui["home"]) if run.tags["dagster/partition"] == "kit"]
    assert parent.remote_job_origin.location_name == "assetgen_dagster" and parent.job_name == "generate_batch"
    assert parent.tags["assetgen/trigger"] == "demo"
    answer = graphql(f"{ui['base']}/graphql", """
        mutation Again($params: ReexecutionParams!) {
          launchRunReexecution(reexecutionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
          }
        }""", {"params": {"parentRunId": parent.run_id, "strategy": "ALL_STEPS"}})
    result = answer["data"]["launchRunReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", answer
    child = wait_for(lambda: [run for run in runs(ui["home"]) if run.run_id == result["run"]["runId"]
                              and run.is_finished], 120, "the re-execution")[0]
    assert child.is_success and child.tags["dagster/parent_run_id"] == parent.run_id


def test_an_edit_lands_a_revert_brings_the_pixels_back_and_a_touch_launches_nothing(ui):
    home, prompts = ui["home"], ui["work"] / "prompts"
    png = ui["work"] / "outputs" / "mats" / "concept_art" / "hall.png"

    def pixels():
        with Image.open(png) as image:
            return np.asarray(image).copy()

    wait_for(lambda: idle(home), 120, "the runs so far to finish")
    original, before = pixels(), len(runs(home))
    write_batch(prompts, "mats", BATCHES["mats"].replace("a great hall", "a ruined hall"))
    wait_for(lambda: not np.array_equal(pixels(), original), 120, "the edited hall")
    wait_for(lambda: idle(home), 120, "the edit's run to finish")
    edited = pixels()
    write_batch(prompts, "mats", BATCHES["mats"])  # the revert
    wait_for(lambda: np.array_equal(pixels(), original), 120, "the reverted hall: the original pixels")
    wait_for(lambda: idle(home), 120, "the revert's run to finish")
    assert not np.array_equal(edited, original) and len(runs(home)) == before + 2
    os.utime(prompts / "mats.yaml")  # a touch, then the same content saved again
    write_batch(prompts, "mats", BATCHES["mats"])
    after_a_tick(home)
    assert len(runs(home)) == before + 2
    triggers = sorted(run.tags.get("assetgen/trigger", "sensor") for run in runs(home)[:2])
    assert triggers == ["watch", "watch"]  # launched at once by the watcher, the sensor did not repeat them


def test_an_invalid_file_fails_a_check_on_the_batch_files_until_it_is_fixed(ui, new_page):
    home, prompts = ui["home"], ui["work"] / "prompts"
    check = AssetCheckKey(AssetKey("prompt_batch_files"), "valid_batch_files")

    def latest():
        with DagsterInstance.from_config(str(home)) as instance:
            records = instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
        return records[0].event.dagster_event.event_specific_data if records and records[0].event else None

    (prompts / "broken.yaml").write_text("items:\n  - {id: rock, kind: concept_art, prompt: x\n")
    failed = wait_for(lambda: (found := latest()) is not None and not found.passed and found, 60, "the failed check")
    assert "broken.yaml: invalid YAML at line 3, column 1: expected ',' or '}'" in failed.description
    page = new_page(viewport={"width": 1400, "height": 900})
    page.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
    page.goto(f"{ui['base']}/assets/prompt_batch_files?view=checks")
    page.get_by_text("valid_batch_files").first.wait_for(timeout=30_000)
    page.get_by_text("broken.yaml").first.wait_for(timeout=30_000)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "invalid_file.png"))
    page.goto(f"{ui['base']}/assets/prompt_batch_files")  # the asset's overview: latest check results, red
    page.get_by_text("Latest check results").first.wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / "invalid_file_overview.png"))
    (prompts / "broken.yaml").unlink()
    wait_for(lambda: (found := latest()) is not None and found.passed, 60, "the check to pass again")


def test_the_asset_page_shows_the_same_metadata_keys_and_a_preview(ui, new_page):
    page = new_page(viewport={"width": 1400, "height": 1000})
    # The UI opens a first-visit community dialog about a second after load, over whatever
    # is clicked then; mark it dismissed in local storage, as a "Skip" click would.
    page.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
    errors = watch_console(page)
    page.goto(f"{ui['base']}/asset-groups")
    page.wait_for_load_state("networkidle")
    for group in ("inputs", "images_2d", "materials", "meshes_3d", "delivery"):  # the lineage's groups
        page.get_by_text(group, exact=True).first.wait_for(timeout=30_000)
    SCREENSHOTS.mkdir(exist_ok=True)
    # Every asset materialized for every batch, kinds it lacks too: no asset shows partitions missing.
    for group, assets in (("images_2d", 3), ("meshes_3d", 3)):
        page.goto(f"{ui['base']}/locations/assetgen_dagster/asset-groups/{group}")
        page.get_by_text("100% filled").nth(assets - 1).wait_for(timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / f"asset_graph_{group}.png"))
    page.goto(f"{ui['base']}/assets/textures?partition=mats")
    page.wait_for_load_state("networkidle")
    page.get_by_text("prompt_batch_files").first.wait_for(timeout=30_000)  # the batch files are upstream
    for key in ("models", "items", "generated", "reused", "batch_hash", "blocked", "preview"):
        page.locator("tr", has_text=key).first.wait_for(timeout=30_000)
    assert "assetgen-tiny/texture" in page.locator("tr", has_text="models").first.inner_text()
    page.locator("tr", has_text="models").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "textures_models.png"))
    page.locator("tr", has_text="preview").first.get_by_text("Show Markdown").click()
    sheet = page.locator("img[src^='data:image']").first
    sheet.wait_for(timeout=10_000)
    assert sheet.evaluate("image => image.naturalWidth") >= 128
    row = page.get_by_role("dialog").locator("tr", has_text="floor").first  # the item table under the sheet
    assert "a stone floor" in row.inner_text() and ("all pass" in row.inner_text() or "tileable" in row.inner_text())
    page.wait_for_timeout(500)  # the dialog's open animation, for a readable screenshot
    page.screenshot(path=str(SCREENSHOTS / "textures_metadata.png"))
    assert errors == [], errors


def test_the_automation_sensor_follows_a_textures_run(ui):
    """Materializing textures alone (what the UI's Materialize button on it does): pbr_maps follow."""
    home, path = ui["home"], ui["work"] / "prompts" / "mats.yaml"
    wait_for(lambda: idle(home), 120, "the runs so far to finish")
    before = {run.run_id for run in runs(home)}
    # "Updated" is relative to its previous evaluation: it has evaluated at least once by now.
    wait_for(lambda: sensor_ticks(home, "follow_upstreams"), 120, "an evaluation of follow_upstreams")
    launch_run(f"{ui['base']}/graphql", BatchRun("mats", batch_hash(load_batch(path)), ("textures",)), "test")

    def pbr_from_automation():
        with DagsterInstance.from_config(str(home)) as instance:
            records = instance.fetch_materializations(AssetKey("pbr_maps"), limit=5).records
            return [r for r in records if r.run_id not in before and r.partition_key == "mats"]

    [record] = wait_for(pbr_from_automation, 180, "pbr_maps materialized by the automation sensor")[:1]
    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(record.run_id)
    assert any("automation" in key or "sensor" in key for key in run.tags), run.tags


def test_ctrl_c_stops_every_process_the_command_started(ui):
    process = ui["process"]
    started = descendants(process.pid)
    assert len(started) >= 4  # daemon, webserver, watcher, worker (and their children)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0
    assert "stopping" in process.stdout.read()
    alive = [pid for pid in started if running(pid)]
    assert alive == [], [Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:120] for pid in alive]
