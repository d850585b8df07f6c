"""What a user sees under `dagster dev`, after batches were made by other runs (as `make demo` does):
no run is launched for current batches, the asset page shows the key metadata and a readable
preview with no console errors, an edit is picked up by the sensor, and the automation sensor
rebuilds pbr_maps after a textures run."""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from assetgen_dagster.cluster.servers import free_port
from assetgen_dagster.cluster.servers import wait_until as wait_for

from .browser import browser, watch_console
from .conftest import PROJECT_ROOT, materialize_batch, write_batch

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


def runs(home: Path) -> list:
    with DagsterInstance.from_config(str(home)) as instance:
        return [record.dagster_run for record in instance.get_run_records()]


def automation_ticks(home: Path) -> int:
    """Completed evaluations of the follow_upstreams automation sensor so far."""
    from dagster._core.scheduler.instigation import TickStatus

    with DagsterInstance.from_config(str(home)) as instance:
        states = [s for s in instance.all_instigator_state() if s.name == "follow_upstreams"]
        return sum(1 for state in states for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)
                   if tick.status in (TickStatus.SUCCESS, TickStatus.SKIPPED))


@pytest.fixture(scope="module")
def dev(tiny_kit, tmp_path_factory):
    """`dagster dev` (webserver + daemon) on a free port over batches another process already made."""
    from assetgen_dagster.demo import ensure_gpu_pool
    from assetgen_dagster.jobs import batch_assets
    from assetgen_dagster.partitions import PROMPT_BATCHES

    from .conftest import REGISTRY, load_batch

    work = tmp_path_factory.mktemp("ui")
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "ASSETGEN_PROMPTS_DIR": str(work / "prompts"),
           "ASSETGEN_OUTPUT_DIR": str(work / "outputs"), "ASSETGEN_SENSOR_INTERVAL_SECONDS": "2"}
    old = {key: os.environ.get(key) for key in ("ASSETGEN_PROMPTS_DIR", "ASSETGEN_OUTPUT_DIR")}
    os.environ.update(ASSETGEN_PROMPTS_DIR=env["ASSETGEN_PROMPTS_DIR"], ASSETGEN_OUTPUT_DIR=env["ASSETGEN_OUTPUT_DIR"])
    (work / "prompts").mkdir()
    with DagsterInstance.from_config(str(home)) as instance:
        ensure_gpu_pool(instance)
        instance.add_dynamic_partitions(PROMPT_BATCHES, list(BATCHES))
        for batch_id, text in BATCHES.items():
            path = write_batch(work / "prompts", batch_id, text)
            made, _ = materialize_batch(batch_assets(REGISTRY, load_batch(path)), batch_id, instance=instance)
            assert made.success
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "dev", "-w",
                                str(PROJECT_ROOT / "workspace.yaml"), "-p", str(port)],
                               cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=(work / "dev.log").open("w"),
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return urllib.request.urlopen(f"{base}/server_info", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(answering, 90, "dagster dev to answer")
        yield {"base": base, "home": home, "work": work, "env": env, "log": work / "dev.log"}
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)
        for key, value in old.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def test_opening_the_ui_launches_no_run_for_current_batches(dev):
    time.sleep(12)  # several sensor ticks (2 s interval here, 5 s by default)
    assert sorted(run.tags.get("dagster/partition") for run in runs(dev["home"])) == ["kit", "mats"]  # only ours
    assert "will not be used" not in dev["log"].read_text()  # `make ui` runs dagster dev from DAGSTER_HOME


def test_the_asset_page_shows_metadata_and_a_readable_preview(dev):
    with browser() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        # The UI opens a first-visit community dialog about a second after load, over whatever
        # is clicked then; mark it dismissed in local storage, as a "Skip" click would.
        page.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
        errors = watch_console(page)
        page.goto(f"{dev['base']}/asset-groups")
        page.wait_for_load_state("networkidle")
        for group in ("inputs", "images_2d", "materials", "meshes_3d", "delivery"):  # the lineage's groups
            page.get_by_text(group, exact=True).first.wait_for(timeout=30_000)
        page.goto(f"{dev['base']}/assets/textures?partition=mats")
        page.wait_for_load_state("networkidle")
        page.get_by_text("prompt_batch_files").first.wait_for(timeout=30_000)  # the batch files are upstream
        for key in ("model", "revision", "license", "items", "generated", "batch_hash", "preview"):
            page.locator("tr", has_text=key).first.wait_for(timeout=30_000)
        assert "assetgen-tiny/texture" in page.locator("tr", has_text="model").first.inner_text()
        page.locator("tr", has_text="preview").first.get_by_text("Show Markdown").click()
        sheet = page.locator("img[src^='data:image']").first
        sheet.wait_for(timeout=10_000)
        width = sheet.evaluate("image => image.naturalWidth")
        assert width >= 128
        row = page.get_by_role("dialog").locator("tr", has_text="floor").first  # the item table under the sheet
        assert "a stone floor" in row.inner_text() and ("all pass" in row.inner_text() or "tileable" in row.inner_text())
        page.wait_for_timeout(500)  # the dialog's open animation, for a readable screenshot
        page.screenshot(path="/tmp/assetgen-ui-preview.png")
        assert errors == [], errors


def test_the_sensor_runs_an_edited_batch_and_automation_follows_textures(dev):
    home, work = dev["home"], dev["work"]
    before = {run.run_id for run in runs(home)}
    write_batch(work / "prompts", "mats", BATCHES["mats"].replace("a stone floor", "a marble floor"))
    edited = wait_for(lambda: [r for r in runs(home) if r.run_id not in before and r.is_finished], 180,
                      "the sensor's run for the edited batch")
    assert edited[0].is_success and edited[0].tags.get("dagster/partition") == "mats"

    # A textures run by hand (e.g. from the CLI): the automation sensor materializes pbr_maps after it.
    # ("Updated" is relative to the sensor's previous evaluation, so let it evaluate once first.)
    ticked = automation_ticks(home)
    wait_for(lambda: automation_ticks(home) > ticked, 120, "an evaluation of the automation sensor")
    before = {run.run_id for run in runs(home)}
    result = subprocess.run([str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
                             "assetgen_dagster.definitions", "--select", "textures", "--partition", "mats"],
                            cwd=work, env=dev["env"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    def pbr_from_automation():
        with DagsterInstance.from_config(str(home)) as instance:
            records = instance.fetch_materializations(AssetKey("pbr_maps"), limit=5).records
            return [r for r in records if r.run_id not in before and r.partition_key == "mats"]

    [record] = wait_for(pbr_from_automation, 180, "pbr_maps materialized by the automation sensor")[:1]
    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(record.run_id)
    assert any("automation" in key or "sensor" in key for key in run.tags), run.tags
