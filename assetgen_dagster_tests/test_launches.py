"""The launch claim every launcher takes (launches.py): one launch per saved content, edits and
reverts launch again, a stale reader loses, a failed launch gives its claim back."""

from assetgen_dagster.batches import batch_hash
from assetgen_dagster.launches import claim_launch, forget_launches, last_launch, read_batch

from .conftest import REGISTRY, write_batch


def batch(prompt: str) -> str:
    return f"items: [{{id: well, kind: concept_art, prompt: '{prompt}'}}]\n"


def claim(outputs, path, by: str, made_from=lambda: None):
    """A launcher's claim on the file as it reads it now."""
    read, still_read = read_batch(path, REGISTRY.schema)
    return claim_launch(outputs, path.stem, batch_hash(read), by, still_read, made_from)


def content(path) -> str:
    return batch_hash(read_batch(path, REGISTRY.schema)[0])


def test_a_claim_is_won_once_per_saved_content_and_edits_and_reverts_win_again(workdir):
    outputs, path = workdir / "outputs", write_batch(workdir / "prompts", "village", batch("a stone well"))
    first = content(path)
    won = claim(outputs, path, "sensor")
    assert won is not None and won.previous is None and last_launch(outputs, "village").content_hash == first
    assert claim(outputs, path, "watch") is None  # the same save, seen by the other launcher
    write_batch(workdir / "prompts", "village", batch("a wooden well"))
    edit = claim(outputs, path, "watch")
    assert edit is not None and edit.previous.content_hash == first
    write_batch(workdir / "prompts", "village", "# formatting and comments are not content\n" + batch("a stone well"))
    assert claim(outputs, path, "sensor").launch.content_hash == first  # a revert launches again
    assert claim(outputs, path, "sensor") is None


def test_a_launcher_that_read_an_older_save_loses(workdir):
    outputs, path = workdir / "outputs", write_batch(workdir / "prompts", "village", batch("take one"))
    stale, still_read = read_batch(path, REGISTRY.schema)
    write_batch(workdir / "prompts", "village", batch("take two"))  # saved again before it claimed
    assert claim_launch(outputs, "village", batch_hash(stale), "sensor", still_read, lambda: None) is None
    assert last_launch(outputs, "village") is None
    assert claim(outputs, path, "watch") is not None  # whoever read the new save claims it


def test_current_outputs_need_no_launch_and_a_failed_launch_withdraws(workdir):
    outputs, path = workdir / "outputs", write_batch(workdir / "prompts", "village", batch("a stone well"))
    assert claim(outputs, path, "sensor", made_from=lambda: content(path)[:16]) is None  # its pack says so
    assert last_launch(outputs, "village").by == "made"
    write_batch(workdir / "prompts", "village", batch("a wooden well"))
    claim(outputs, path, "watch").withdraw()  # the webserver refused the launch
    assert last_launch(outputs, "village").by == "made"
    assert claim(outputs, path, "sensor") is not None  # so the next look launches it
    forget_launches(outputs, "village")  # the file was deleted
    assert last_launch(outputs, "village") is None
