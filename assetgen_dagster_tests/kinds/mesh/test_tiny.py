from assetgen_dagster.kinds.mesh.tiny import TINY_SHAP_E_REPO as SHAP_E_REPO


def test_tiny_shap_e_loads_by_repo_id_and_decodes_a_watertight_mesh(tiny_kit):
    import torch
    import trimesh
    from diffusers import ShapEPipeline

    pipe = ShapEPipeline.from_pretrained(SHAP_E_REPO, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.shap_e_renderer.mesh_decoder.masks.any()  # the marching-cubes table survived saving
    latents = pipe("a mossy rock", num_inference_steps=2, guidance_scale=3.0,
                   generator=torch.Generator().manual_seed(1), output_type="latent").images
    out = pipe.shap_e_renderer.decode_to_mesh(latents[0][None], "cpu", grid_size=16)
    mesh = trimesh.Trimesh(out.verts.numpy(), out.faces.numpy())
    assert len(mesh.faces) > 100 and mesh.is_watertight
    assert set(out.vertex_channels) == {"R", "G", "B"}
