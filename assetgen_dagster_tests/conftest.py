"""Shared fixtures: an isolated offline Hugging Face cache with the tiny kit, built once per session."""

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

# huggingface_hub reads HF_HOME when first imported, so set the session's cache before anything loads it.
_SESSION_HF_HOME = tempfile.mkdtemp(prefix="assetgen-test-hf-")
os.environ["HF_HOME"] = _SESSION_HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["ASSETGEN_PROFILE"] = "tiny"
os.environ["ASSETGEN_RETRY_DELAY_SECONDS"] = "0.2"  # the retry tests wait 0.2/0.4/0.8 s, not 2/4/8
for _name in ("ASSETGEN_CATALOG", "ASSETGEN_ALLOWED_REPOS", "ASSETGEN_PROMPTS_DIR", "ASSETGEN_OUTPUT_DIR"):
    os.environ.pop(_name, None)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_kit() -> Path:
    """The tiny models, built once into the session's HF cache."""
    from assetgen_dagster.tiny import ensure_tiny_kit

    ensure_tiny_kit()
    return Path(_SESSION_HF_HOME)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """Empty prompts and output directories, pointed to by the ASSETGEN_* variables."""
    (tmp_path / "prompts").mkdir()
    (tmp_path / "outputs").mkdir()
    monkeypatch.setenv("ASSETGEN_PROMPTS_DIR", str(tmp_path / "prompts"))
    monkeypatch.setenv("ASSETGEN_OUTPUT_DIR", str(tmp_path / "outputs"))
    return tmp_path


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
