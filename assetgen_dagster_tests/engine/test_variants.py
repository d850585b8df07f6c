"""Candidates per item (``variants``), the picks file beside the batch, re-rolls, and what the pack ships."""

import json

import numpy as np
import pytest
from PIL import Image

from assetgen_dagster.batches import BatchError, variant_seed
from assetgen_dagster.picks import parse_picks

from ..conftest import REGISTRY, materialize_batch, metadata_of, sensor_tick, sha, step_failure, write_batch

BATCH = """\
    defaults: {seed: 5}
    items:
      - {id: lamp, kind: concept_art, prompt: "a brass lantern", variants: 4}
      - {id: rock, kind: concept_art, prompt: "a mossy rock"}
    """
ASSETS = ["concept_art", "asset_pack"]


def state(folder):
    """name -> (mtime_ns, sha256) of every file under the concept_art folder (variants included)."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, sha(p)) for p in sorted(folder.rglob("*.png"))}


def provenance(path):
    with Image.open(path) as image:
        return json.loads(image.text["assetgen"])


def pick(workdir, text):
    (workdir / "prompts" / "props.picks.yaml").write_text(text)


@pytest.fixture
def first(tiny_kit, workdir):
    """The batch made once: (run result, instance, concept_art folder, its files)."""
    write_batch(workdir / "prompts", "props", BATCH)
    result, instance = materialize_batch(ASSETS, "props")
    folder = workdir / "outputs" / "props" / "concept_art"
    return result, instance, folder, state(folder)


def entries(folder):
    """The concept_art manifest's entries by key (items and their candidates)."""
    return json.loads((folder / "manifest.json").read_text())["items"]


def test_each_candidate_has_its_own_seed_file_provenance_and_score_and_the_best_ships(first, workdir):
    result, _, folder, files = first
    assert sorted(files) == ["lamp.png", "rock.png", *(f"variants/lamp.v{k}.png" for k in range(4))]
    meta = metadata_of(result, "concept_art")
    assert meta["generated"] == 5  # four candidates and the plain item
    seeds = [provenance(folder / f"variants/lamp.v{k}.png")["seed"] for k in range(4)]
    assert seeds == [variant_seed(seeds[0], k) for k in range(4)] and len(set(seeds)) == 4
    assert [provenance(folder / f"variants/lamp.v{k}.png")["variant"] for k in range(4)] == [0, 1, 2, 3]
    assert len({files[f"variants/lamp.v{k}.png"][1] for k in range(4)}) == 4  # four different images

    recorded = entries(folder)
    scores = [recorded[f"lamp.v{k}"]["score"] for k in range(4)]
    assert all(-100 <= score <= 100 for score in scores) and len(set(scores)) == 4
    assert recorded["lamp.v0"]["scored_by"].startswith("assetgen-tiny/image-score@")
    best = scores.index(max(scores))
    assert best != 0  # (this batch's seeds: so shipping variant 0 regardless of scores would fail here)
    assert (recorded["lamp"]["variant"], recorded["lamp"]["picked_by"]) == (best, "score")
    assert files["lamp.png"][1] == files[f"variants/lamp.v{best}.png"][1]
    assert provenance(folder / "lamp.png")["seed"] == seeds[best]
    assert meta["candidates"] == {"lamp": {"pick": best, "picked_by": "score",
                                           "scores": {str(k): score for k, score in enumerate(scores)}}}
    assert "score" not in recorded["rock"]  # one variant: nothing to choose from, nothing scored
    pack = workdir / "outputs" / "props" / "asset_pack"
    assert sha(pack / "concept_art" / "lamp.png") == files["lamp.png"][1]
    shipped = [p for p in pack.rglob("*.png") if p.relative_to(pack).parts[0] != "review"]
    assert sorted(p.name for p in shipped) == ["lamp.png", "rock.png"]  # the pick only (the page shows all)


def test_variant_0_is_what_a_one_variant_batch_makes(first, tiny_kit, tmp_path, monkeypatch):
    folder = first[2]
    from ..conftest import point_at

    (tmp_path / "plain").mkdir()
    plain = point_at(tmp_path / "plain", monkeypatch)
    write_batch(plain / "prompts", "props", BATCH.replace(", variants: 4", ""))
    materialize_batch(["concept_art"], "props")
    made = plain / "outputs" / "props" / "concept_art"
    assert sorted(p.name for p in made.rglob("*.png")) == ["lamp.png", "rock.png"]
    # not a reuse: a fresh output folder, generated again from scratch, in a pipeline batch of another size
    # (which moves a few values by one least-significant bit, see README "Reproducibility")
    with Image.open(made / "lamp.png") as plain_image, Image.open(folder / "variants/lamp.v0.png") as candidate:
        difference = np.abs(np.asarray(plain_image, np.int16) - np.asarray(candidate, np.int16))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001


def test_a_new_pick_makes_nothing_and_ships_that_candidate(first, workdir):
    _, instance, folder, before = first
    pick(workdir, "lamp: {pick: 2}\n")
    result, _ = materialize_batch(ASSETS, "props", instance=instance)
    meta = metadata_of(result, "concept_art")
    assert (meta["generated"], meta["reused"]) == (0, 5)
    after = state(folder)
    assert {name: after[name] for name in after if name.startswith("variants/")} == \
        {name: before[name] for name in before if name.startswith("variants/")}
    assert after["lamp.png"][1] == before["variants/lamp.v2.png"][1] and after["rock.png"] == before["rock.png"]
    pack = workdir / "outputs" / "props" / "asset_pack"
    assert sha(pack / "concept_art" / "lamp.png") == before["variants/lamp.v2.png"][1]
    manifest = json.loads((pack / "manifest.json").read_text())
    [lamp] = [entry for entry in manifest["items"] if entry["id"] == "lamp"]
    assert lamp["provenance"]["concept_art"]["variant"] == 2

    (workdir / "prompts" / "props.picks.yaml").unlink()  # no picks file: back to the best scored
    result, _ = materialize_batch(ASSETS, "props", instance=instance)
    best = metadata_of(result, "concept_art")["candidates"]["lamp"]["pick"]
    assert best != 2 and sha(folder / "lamp.png") == before[f"variants/lamp.v{best}.png"][1]


def test_a_reroll_remakes_exactly_that_candidate(first, workdir):
    _, instance, folder, before = first
    pick(workdir, "lamp:\n  pick: 1\n  rerolled: {1: 1}\n")
    result, _ = materialize_batch(ASSETS, "props", instance=instance)
    assert metadata_of(result, "concept_art")["generated"] == 1
    after = state(folder)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"variants/lamp.v1.png", "lamp.png"}
    assert after["lamp.png"][1] == after["variants/lamp.v1.png"][1] != before["variants/lamp.v1.png"][1]
    seed = provenance(folder / "lamp.png")["seed"]
    assert seed == variant_seed(provenance(folder / "variants/lamp.v0.png")["seed"], 1, 1)


def test_fewer_variants_keep_the_first_ones_and_their_pick(first, workdir):
    _, instance, folder, before = first
    pick(workdir, "lamp: {pick: 1}\n")
    write_batch(workdir / "prompts", "props", BATCH.replace("variants: 4", "variants: 2"))
    result, _ = materialize_batch(ASSETS, "props", instance=instance)
    assert metadata_of(result, "concept_art")["generated"] == 0
    after = state(folder)
    assert sorted(after) == ["lamp.png", "rock.png", "variants/lamp.v0.png", "variants/lamp.v1.png"]
    assert after["lamp.png"][1] == before["variants/lamp.v1.png"][1]

    pick(workdir, "lamp: {pick: 3}\n")  # beyond the count now: left out with a note, the best of 0-1 ships
    result, _ = materialize_batch(ASSETS, "props", instance=instance)
    candidates = metadata_of(result, "concept_art")["candidates"]["lamp"]
    assert candidates["picked_by"] == "score" and set(candidates["scores"]) == {"0", "1"}
    assert sha(folder / "lamp.png") == before[f"variants/lamp.v{candidates['pick']}.png"][1]
    assert any("pick 3 is ignored" in record.user_message for record in instance.all_logs(result.run_id))


@pytest.mark.parametrize("text, named", [
    ("lamp: {pick: -1}\n", "item 'lamp', field 'pick'"),
    ("lamp: {pick: 1, color: red}\n", "item 'lamp', field 'color': unknown key"),
    ("lamp: {rerolled: {1: 0}}\n", "item 'lamp', field 'rerolled.1'"),
    ("- lamp\n", "top level must be a mapping"),
])
def test_a_bad_picks_file_fails_the_batch_naming_file_item_and_field(first, workdir, text, named):
    _, instance, folder, before = first
    pick(workdir, text)
    result, _ = materialize_batch(["concept_art"], "props", instance=instance)
    assert not result.success
    failure = step_failure(result)
    assert "props.picks.yaml" in failure and named in failure, failure
    assert state(folder) == before


def test_picks_are_parsed_against_the_batch():
    batch = REGISTRY.schema.parse("items:\n  - {id: lamp, kind: concept_art, prompt: p, variants: 3}\n")
    picks = parse_picks("lamp: {pick: 2, rerolled: {0: 4}}\ngone: {pick: 1}\n", "b.picks.yaml", batch)
    assert (picks.pick("lamp"), picks.rerolls("lamp", 0), picks.rerolls("lamp", 1)) == (2, 4, 0)
    assert picks.pick("gone") is None and "'gone' is not in the batch" in picks.notes[0]
    with pytest.raises(BatchError, match="variants"):
        REGISTRY.schema.parse("items:\n  - {id: lamp, kind: concept_art, prompt: p, variants: 17}\n")
    with pytest.raises(BatchError, match="item 'menu' .*field 'variants': strings are written by hand"):
        REGISTRY.schema.parse("items:\n  - {id: menu, kind: strings, strings: {start: Start}, variants: 2}\n")
    # a batch default applies to the items that can have candidates; strings items just have none
    REGISTRY.schema.parse("defaults: {variants: 2}\nitems:\n  - {id: menu, kind: strings, strings: {start: Start}}\n")


def test_the_sensor_treats_the_picks_file_as_part_of_the_batch(tiny_kit, workdir):
    from dagster import DagsterInstance

    write_batch(workdir / "prompts", "props", BATCH)
    instance = DagsterInstance.ephemeral()
    first = sensor_tick(instance)
    assert [r.partition_key for r in first.run_requests] == ["props"]  # the picks file is no batch
    instance.add_dynamic_partitions("prompt_batches", ["props"])
    pick(workdir, "lamp: {pick: 1}\n")
    second = sensor_tick(instance, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["props"]
    assert second.run_requests[0].tags != first.run_requests[0].tags  # another content hash
    (workdir / "prompts" / "props.picks.yaml").unlink()
    third = sensor_tick(instance, second.cursor)
    assert [r.partition_key for r in third.run_requests] == ["props"]
    assert third.run_requests[0].tags == first.run_requests[0].tags  # the content without picks again


MIXED = """\
    defaults: {seed: 3, variants: 2}
    items:
      - {id: chime, kind: sfx, prompt: "a bright chime", duration: 0.3}
      - {id: crate, kind: mesh, prompt: "a wooden crate", grid_size: 32}
      - {id: sword, kind: item_text, prompt: "a rusty sword"}
      - {id: hero, kind: sprite, prompt: "a hero"}
    """


def test_every_kind_that_generates_from_a_seed_makes_different_candidates(tiny_kit, workdir):
    write_batch(workdir / "prompts", "mixed", MIXED)
    result, _ = materialize_batch(["sfx", "meshes", "mesh_lods", "item_text", "sprites", "asset_pack"], "mixed")
    assert result.success, step_failure(result)
    outputs = workdir / "outputs" / "mixed"
    for asset, item in (("sfx", "chime"), ("meshes", "crate"), ("item_text", "sword"), ("sprites", "hero")):
        candidates = sorted((outputs / asset / "variants").iterdir())
        by_variant = {k: {p.name.split(".", 2)[2]: sha(p) for p in candidates if p.name.startswith(f"{item}.v{k}.")}
                      for k in range(2)}
        assert by_variant[0] and by_variant[0].keys() == by_variant[1].keys(), (asset, candidates)
        assert by_variant[0] != by_variant[1], f"{asset}: both candidates are the same"
        shipped = entries(outputs / asset)[item]["variant"]  # the best scored (images), else variant 0
        assert shipped == 0 or asset == "sprites"
        for name, digest in by_variant[shipped].items():  # under the item's own name
            assert sha(outputs / asset / f"{item}.{name}") == digest
    # derived from the picked candidate: LODs of the crate that ships
    assert metadata_of(result, "mesh_lods")["generated"] == 1


def test_the_review_page_shows_every_candidate_and_marks_the_pick(first, workdir):
    _, instance, _, before = first
    pick(workdir, "lamp: {pick: 3}\n")
    materialize_batch(ASSETS, "props", instance=instance)
    pack = workdir / "outputs" / "props" / "asset_pack"
    html = (pack / "index.html").read_text()
    for k in range(4):
        shown = pack / "review" / "candidates" / "concept_art" / f"lamp.v{k}.png"
        assert f'data-item="lamp" data-asset="concept_art" data-variant="{k}"' in html
        assert shown.is_file() and sha(shown) == before[f"variants/lamp.v{k}.png"][1]
    assert html.count('class="candidate picked"') == 1
    assert 'class="candidate picked" data-item="lamp" data-asset="concept_art" data-variant="3"' in html
    assert 'data-item="rock" data-asset' not in html  # a one-variant item shows no candidates
