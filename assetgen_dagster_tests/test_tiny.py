import hashlib

from assetgen_dagster import tiny


def _digests(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_kit_is_built_in_hub_layout_and_idempotent(tiny_kit):
    snapshot = tiny.ensure_tiny_model(tiny.TEXT_TO_IMAGE_REPO)
    repo_folder = snapshot.parents[1]
    assert snapshot.name == tiny.snapshot_commit(tiny.TEXT_TO_IMAGE_REPO)
    assert (repo_folder / "refs" / "main").read_text() == snapshot.name
    assert (snapshot / "model_index.json").is_file()
    assert not list(snapshot.rglob("*.bin")), "safetensors only"
    before = {p: p.stat().st_mtime_ns for p in snapshot.rglob("*") if p.is_file()}
    assert tiny.ensure_tiny_model(tiny.TEXT_TO_IMAGE_REPO) == snapshot
    assert {p: p.stat().st_mtime_ns for p in snapshot.rglob("*") if p.is_file()} == before


def test_build_is_byte_reproducible(tiny_kit, tmp_path):
    fresh = tiny.ensure_tiny_model(tiny.TEXT_TO_IMAGE_REPO, cache_dir=tmp_path)
    assert _digests(fresh) == _digests(tiny.ensure_tiny_model(tiny.TEXT_TO_IMAGE_REPO))


def test_loads_by_repo_id_offline_through_the_hub_cache(tiny_kit):
    from diffusers import DiffusionPipeline
    from huggingface_hub import snapshot_download

    folder = snapshot_download(tiny.TEXT_TO_IMAGE_REPO, local_files_only=True)
    assert folder.endswith(tiny.snapshot_commit(tiny.TEXT_TO_IMAGE_REPO))
    pipe = DiffusionPipeline.from_pretrained(tiny.TEXT_TO_IMAGE_REPO, local_files_only=True)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    # the offline-tokenizer hazard in NOTES.md: a silently defaulted tokenizer has 2-3 tokens
    assert len(pipe.tokenizer) > 500
    assert pipe.tokenizer.model_max_length == 77
    assert pipe.text_encoder.config.eos_token_id == pipe.tokenizer.eos_token_id
    ids = pipe.tokenizer("a red rock").input_ids
    assert ids[0] == pipe.tokenizer.bos_token_id and ids[-1] == pipe.tokenizer.eos_token_id


def test_tiny_shap_e_loads_by_repo_id_and_decodes_a_watertight_mesh(tiny_kit):
    import torch
    import trimesh
    from diffusers import ShapEPipeline

    pipe = ShapEPipeline.from_pretrained(tiny.SHAP_E_REPO, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.shap_e_renderer.mesh_decoder.masks.any()  # the marching-cubes table survived saving
    latents = pipe("a mossy rock", num_inference_steps=2, guidance_scale=3.0,
                   generator=torch.Generator().manual_seed(1), output_type="latent").images
    out = pipe.shap_e_renderer.decode_to_mesh(latents[0][None], "cpu", grid_size=16)
    mesh = trimesh.Trimesh(out.verts.numpy(), out.faces.numpy())
    assert len(mesh.faces) > 100 and mesh.is_watertight
    assert set(out.vertex_channels) == {"R", "G", "B"}
