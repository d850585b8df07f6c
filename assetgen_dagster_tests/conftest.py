"""Shared fixtures: an isolated offline Hugging Face cache with the tiny kit, built once per session."""

import hashlib
import os
import shutil
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# huggingface_hub reads HF_HOME when first imported, so set the session's cache before anything loads it.
# The session's folder (the tiny kit, ~11 MB, and the device locks) goes when the session ends.
_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="assetgen-test-"))
_SESSION_HF_HOME = str(_SESSION_ROOT / "hf")
os.environ["HF_HOME"] = _SESSION_HF_HOME
os.environ["ASSETGEN_DEVICE_LOCK_DIR"] = str(_SESSION_ROOT / "device-locks")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["ASSETGEN_PROFILE"] = "tiny"
os.environ["ASSETGEN_RETRY_DELAY_SECONDS"] = "0.2"  # the retry tests wait 0.2/0.4/0.8 s, not 2/4/8
for _name in ("ASSETGEN_CATALOG", "ASSETGEN_ALLOWED_REPOS", "ASSETGEN_PROMPTS_DIR", "ASSETGEN_OUTPUT_DIR"):
    os.environ.pop(_name, None)

# Under pytest-xdist each worker gets its share of the cores for torch (two workers with a thread per core
# each would spin against each other); set before anything imports torch.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))

PROJECT_ROOT = Path(__file__).resolve().parents[1]

from assetgen_dagster.registry import build_registry  # noqa: E402 - after HF_HOME is set

from .browser import chromium, new_page  # noqa: F401 - fixtures for the browser tests

# The registry the tests hand to the code under test: the built-in kinds, no installed plugins (the
# plugin tests build their own).
REGISTRY = build_registry(plugins=False)
load_batch = REGISTRY.schema.load  # a batch file, validated against the registered kinds
parse_batch = REGISTRY.schema.parse  # YAML text, the same


# pytest-xdist (`make test` runs two workers): which modules run as one unit, and which units start first.
# The modules that read the demo's outputs share one unit, so the demo is made once (`demo_runs`).
DEMO_READERS = frozenset(f"assetgen_dagster_tests/{path}" for path in (
    "kinds/audio/test_audio_kinds.py", "kinds/skybox/test_skybox.py", "kinds/sprite_animation/test_sprite_animation.py",
    "kinds/text/test_narrative.py", "kinds/texture/test_textures.py", "review/test_review_page.py",
    "test_pack_in_godot.py"))
# Units measured at 15 s and more (servers, a UI, the demo) start first: none is left alone at the end.
LONG_UNITS = ("demo", "assetgen_dagster_tests/cluster/test_scale_out.py", "assetgen_dagster_tests/test_ui.py",
              "assetgen_dagster_tests/test_postgres.py", "assetgen_dagster_tests/test_cli.py",
              "assetgen_dagster_tests/test_concurrency.py", "assetgen_dagster_tests/kinds/voice/test_casting.py",
              "assetgen_dagster_tests/cluster/test_cluster_command.py")


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its module (module fixtures, a cluster or a UI, start once per
    worker), or ``demo`` for the modules in :data:`DEMO_READERS`."""
    module = nodeid.split("::", 1)[0]
    return "demo" if module in DEMO_READERS else module


def pytest_xdist_make_scheduler(config, log):
    """Whole units to a worker, the long ones first (xdist's own ordering counts tests, not seconds)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.long_first = False  # the work queue has been put in LONG_UNITS order

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            # The queue is built in collection order just before the first unit goes out; reorder it
            # once (the collections themselves stay as collected: work goes out as indexes into them).
            if not self.long_first:
                rank = {unit: index for index, unit in enumerate(LONG_UNITS)}
                units = sorted(self.workqueue.items(), key=lambda item: rank.get(item[0], len(rank)))
                self.workqueue.clear()
                self.workqueue.update(units)
                self.long_first = True
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False
    return ByUnit(config, log)


def pytest_unconfigure() -> None:
    """The session's folder goes when pytest ends, in every process that imported this file (the
    xdist controller runs no test, so a session fixture would leave its folder behind)."""
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_kit() -> Path:
    """The tiny models, built once into the session's HF cache."""
    from assetgen_dagster.tiny import ensure_tiny_kit

    ensure_tiny_kit(REGISTRY.roles)
    return Path(_SESSION_HF_HOME)


def models(loader=None):
    """A model loader bound to the tests' registry (the tiny profile)."""
    from assetgen_dagster.models import ModelLoader

    return (loader or ModelLoader()).bind(REGISTRY.roles)


def resources(models=None) -> dict:
    """The resources every asset of the code location needs."""
    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.settings import ProjectSettings

    return {"models": models or ModelLoader(), "project": ProjectSettings()}


def point_at(root: Path, patch: pytest.MonkeyPatch) -> Path:
    """Prompts and output directories under ``root``, pointed to by the ASSETGEN_* variables
    (through ``patch``, which restores them)."""
    for folder in ("prompts", "outputs"):
        (root / folder).mkdir(exist_ok=True)
    patch.setenv("ASSETGEN_PROMPTS_DIR", str(root / "prompts"))
    patch.setenv("ASSETGEN_OUTPUT_DIR", str(root / "outputs"))
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """Empty prompts and output directories, pointed to by the ASSETGEN_* variables."""
    return point_at(tmp_path, monkeypatch)


@contextmanager
def shared_workdir(tmp_path_factory, name: str) -> Iterator[Path]:
    """What ``workdir`` is to one test, for a fixture a module's tests share."""
    with pytest.MonkeyPatch.context() as patch:
        yield point_at(tmp_path_factory.mktemp(name), patch)


def dagster_home(folder: Path, partitions: list[str]) -> Path:
    """``folder/dagster_home`` with the project's dagster.yaml (SQLite) and these batches registered."""
    from dagster import DagsterInstance

    from assetgen_dagster.partitions import PROMPT_BATCHES

    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(PROMPT_BATCHES, partitions)
    return home


def copy_demo_batch(batch_id: str, prompts_dir: Path) -> Path:
    """One of data/prompts' demo batches into ``prompts_dir``, with the reference clips its cast names."""
    shutil.copytree(PROJECT_ROOT / "data" / "prompts" / "voices", prompts_dir / "voices", dirs_exist_ok=True)
    return Path(shutil.copy(PROJECT_ROOT / "data" / "prompts" / f"{batch_id}.yaml", prompts_dir))


def sha(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_batch(prompts_dir: Path, batch_id: str, text: str) -> Path:
    path = prompts_dir / f"{batch_id}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


CONCEPT_BATCH = """\
    defaults: {seed: 5}
    items:
      - {id: rock, kind: concept_art, prompt: "a mossy rock"}
      - {id: chest, kind: concept_art, prompt: "a treasure chest", negative_prompt: "blurry"}
      - {id: lamp, kind: concept_art, prompt: "a brass lantern", seed: 42}
      - {id: hero, kind: sprite, prompt: "a hero sprite"}
      - {id: shrine, kind: concept_art, prompt: "a ruined shrine", steps: 3}
    """


def sensor_tick(instance, cursor=None, registry=None):
    """One evaluation of the batch sensor (built for ``registry``, default the tests') on ``instance``."""
    from dagster import build_sensor_context

    from assetgen_dagster.sensors import batch_sensor
    from assetgen_dagster.settings import ProjectSettings

    context = build_sensor_context(instance=instance, cursor=cursor, resources={"project": ProjectSettings()})
    return batch_sensor(registry or REGISTRY)(context)


def asset_defs(*names: str, registry=None) -> list:
    """The registry's asset definitions and the pack, by name (all of them if none named)."""
    from assetgen_dagster.pack import pack_asset

    registry = registry or REGISTRY
    found = {**registry.definitions, "asset_pack": pack_asset(registry)}
    return [found[name] for name in names] if names else list(found.values())


def materialize_batch(names, batch_id, instance=None, models=None, tags=None, raise_on_error=False):
    """Materialize the named assets (or all) for one batch in process; registers the partition.
    ``models``: a ModelLoader resource (default: the default one)."""
    from dagster import DagsterInstance, materialize

    from assetgen_dagster.partitions import PROMPT_BATCHES

    instance = instance or DagsterInstance.ephemeral()
    if not instance.has_dynamic_partition(PROMPT_BATCHES, batch_id):
        instance.add_dynamic_partitions(PROMPT_BATCHES, [batch_id])
    result = materialize(asset_defs(*names), partition_key=batch_id, instance=instance, tags=tags,
                         resources=resources(models), raise_on_error=raise_on_error)
    return result, instance


def metadata_of(result, asset: str, partition: str | None = None) -> dict:
    """The plain values of an asset's materialization metadata in a run (one partition)."""
    events = [e for e in result.get_asset_materialization_events()
              if e.asset_key.to_user_string() == asset and (partition is None or e.partition == partition)]
    [event] = events
    return {k: v.value for k, v in event.materialization.metadata.items()}


def checks_of(result) -> dict:
    """(asset, check) -> the run's check evaluation (one partition)."""
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def step_failure(result) -> str:
    from dagster import DagsterEventType

    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    data = failure.step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.to_string()


def sensor_tick_starts(instance, name: str) -> list[float]:
    """When each finished evaluation of the sensor ``name`` so far started."""
    from dagster._core.scheduler.instigation import TickStatus

    states = [s for s in instance.all_instigator_state() if s.name == name]
    return [tick.timestamp for state in states for tick in instance.get_ticks(state.instigator_origin_id,
                                                                             state.selector_id)
            if tick.status in (TickStatus.SUCCESS, TickStatus.SKIPPED)]


def wait_for_a_tick(open_instance, name: str) -> None:
    """Block until the sensor ``name`` has evaluated once from start to end after this call: whatever
    the files and runs were at this moment, it has seen. ``open_instance()`` gives a DagsterInstance."""
    from assetgen_dagster.cluster.servers import wait_until

    now = time.time()

    def ticked():
        with open_instance() as instance:
            return any(started > now for started in sensor_tick_starts(instance, name))

    wait_until(ticked, 120, f"an evaluation of {name}")


DEMO_BATCHES = sorted(p.stem for p in (PROJECT_ROOT / "data" / "prompts").glob("*.yaml"))


@pytest.fixture(scope="session")
def demo_runs(tiny_kit, tmp_path_factory) -> tuple[Path, dict]:
    """The demo batches made once in process into a temporary output directory: (its ``outputs``
    folder, batch id -> the run's result). The tests that read them must not change them."""
    from dagster import DagsterInstance

    with shared_workdir(tmp_path_factory, "demo") as work:
        shutil.copytree(PROJECT_ROOT / "data" / "prompts", work / "prompts", dirs_exist_ok=True)
        instance = DagsterInstance.ephemeral()
        results = {}
        for batch in DEMO_BATCHES:
            results[batch], _ = materialize_batch([], batch, instance=instance)
            assert results[batch].success, batch
    return work / "outputs", results


@pytest.fixture(scope="session")
def demo_packs(demo_runs) -> Path:
    """The demo batches' output directory (see ``demo_runs``); the review page and engine tests read it."""
    return demo_runs[0]
