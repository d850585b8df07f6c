"""Every malformed or hostile batch file fails with a clear message, in the validator and in the
sensor, without crashing the tick, writing anything, or blocking the valid batch beside it."""

import os

import pytest
from dagster import AssetCheckEvaluation, DagsterInstance

from assetgen_dagster.batches import BatchError

from .conftest import CONCEPT_BATCH, load_batch, sensor_tick, write_batch
from .fixtures.bad_batches import BAD_BATCHES


@pytest.fixture
def corpus(workdir):
    prompts = workdir / "prompts"
    for name, (content, _) in BAD_BATCHES.items():
        (prompts / name).write_bytes(content)
    os.symlink("/etc/passwd", prompts / "passwd_link.yaml")
    return prompts


EXPECTED = {**{name: needles for name, (_, needles) in BAD_BATCHES.items()},
            "passwd_link.yaml": ["symlink to a file outside the prompts directory"]}


def test_corpus_is_big_enough():
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validator_names_file_item_and_field(corpus, name):
    with pytest.raises(BatchError) as info:
        load_batch(corpus / name)
    message = str(info.value)
    assert message.startswith(str(corpus / name)), message[:200]
    for needle in EXPECTED[name]:
        assert needle in message, (name, message[:500])
    assert len(message) < 2_000  # a hostile input never turns into a giant message


def test_sensor_survives_the_corpus_and_runs_the_valid_batch(corpus, workdir):
    write_batch(corpus, "good_batch", CONCEPT_BATCH)
    instance = DagsterInstance.ephemeral()
    result = sensor_tick(instance)
    assert [r.partition_key for r in result.run_requests] == ["good_batch"]
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["good_batch"]]
    [evaluation] = [event for event in result.asset_events if isinstance(event, AssetCheckEvaluation)]
    assert not evaluation.passed and evaluation.check_name == "valid_batch_files"
    errors = evaluation.metadata["errors"].value  # file name -> error
    assert set(errors) == set(EXPECTED)
    for name, needles in EXPECTED.items():
        assert all(needle in errors[name] for needle in needles), (name, errors[name][:300])
    assert [p.name for p in (workdir / "outputs").iterdir()] == [".locks"]  # no output, only its launch record
    assert [p.name for p in (workdir / "outputs" / ".locks").glob("*.launched")] == ["good_batch.launched"]
