"""The tiny kit's 3D models: Shap-E-architecture text-to-3D and image-to-3D pipelines and a DPT depth
model, random weights (the Shap-E field shaped as one object)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetgen_dagster.tiny import byte_level_vocab, clip_tokenizer

TINY_SHAP_E_REPO = "assetgen-tiny/shap-e"
TINY_SHAP_E_IMG2IMG_REPO = "assetgen-tiny/shap-e-img2img"
LATENT_DIM, HIDDEN = 16, 8  # the prior emits 4 x HIDDEN latent vectors of LATENT_DIM
TINY_DEPTH_REPO = "assetgen-tiny/depth"


def build_tiny_shap_e(target: Path) -> None:
    """A Shap-E-architecture text-to-3D pipeline (prior + STF renderer) with a real marching-cubes
    table in its mesh decoder, so ``decode_to_mesh`` returns watertight meshes (16^3 grid: ~10 ms)."""
    import torch
    from diffusers import ShapEPipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    vocab, _ = byte_level_vocab()
    tokenizer = clip_tokenizer()
    torch.manual_seed(0)
    prior = _tiny_prior()
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, projection_dim=16, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    ShapEPipeline(prior=prior, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=shap_e_scheduler(),
                  shap_e_renderer=_tiny_renderer()).save_pretrained(target, safe_serialization=True)


def build_tiny_shap_e_img2img(target: Path) -> None:
    """The image-to-3D variant (openai/shap-e-img2img's architecture): a CLIP vision encoder (32 px,
    16 patches) and its image processor in place of the text encoder; the same renderer."""
    import torch
    from diffusers import ShapEImg2ImgPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    prior = _tiny_prior(embedding_proj_norm_type="layer")
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=16, image_size=32, patch_size=8, projection_dim=16, intermediate_size=24, num_attention_heads=2,
        num_channels=3, num_hidden_layers=2,
    ))
    image_processor = CLIPImageProcessor(size=32, crop_size=32, do_resize=True, do_center_crop=True, resample=3,
                                         do_normalize=True, image_mean=[0.48145466, 0.4578275, 0.40821073],
                                         image_std=[0.26862954, 0.26130258, 0.27577711])
    ShapEImg2ImgPipeline(prior=prior, image_encoder=image_encoder, image_processor=image_processor,
                         scheduler=shap_e_scheduler(), shap_e_renderer=_tiny_renderer(),
                         ).save_pretrained(target, safe_serialization=True)


def _tiny_prior(**extra: Any) -> Any:
    from diffusers import PriorTransformer

    return PriorTransformer(
        num_attention_heads=2, attention_head_dim=8, num_layers=1, embedding_dim=LATENT_DIM,
        num_embeddings=4 * HIDDEN, embedding_proj_dim=16, time_embed_dim=4 * LATENT_DIM,
        clip_embed_dim=2 * LATENT_DIM, additional_embeddings=0, time_embed_act_fn="gelu",
        norm_in_type="layer", encoder_hid_proj_type=None, added_emb_type=None, **extra,
    )


def shap_e_scheduler() -> Any:
    from diffusers import HeunDiscreteScheduler

    return HeunDiscreteScheduler(beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample",
                                 use_karras_sigmas=True, clip_sample=True, clip_sample_range=1.0)


def _tiny_renderer() -> Any:
    """The STF renderer both Shap-E pipelines share, with a filled marching-cubes table (zeros in a
    random model; saved with it) and a field shaped as one object."""
    import torch
    from diffusers.pipelines.shap_e import ShapERenderer

    from assetgen_dagster.kinds.mesh.marching_cubes import marching_cubes_table

    renderer = ShapERenderer(
        param_shapes=((HIDDEN, 93), (HIDDEN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, HIDDEN)),
        d_latent=LATENT_DIM, d_hidden=HIDDEN, n_output=12, background=(0.1, 0.1, 0.1),
    )
    cases, masks = marching_cubes_table()
    renderer.mesh_decoder.cases.copy_(torch.from_numpy(cases))
    renderer.mesh_decoder.masks.copy_(torch.from_numpy(masks))
    shape_field_as_one_object(renderer, HIDDEN)
    return renderer


BLOB_RADIUS = 0.6  # L1 radius of the object the tiny renderer's field describes, in its [-1, 1]^3 volume
LATENT_SHARE = (0.02, 0.002, 0.002, 0.002)  # how far each latent-projected layer's weights follow the latent


def shape_field_as_one_object(renderer: Any, hidden: int, radius: float = BLOB_RADIUS) -> None:
    """Set the tiny renderer's weights so its signed distance field is one closed object, the L1 ball
    ``|x| + |y| + |z| < radius`` (an octahedron with rounded edges), bent a little by each latent.

    A random renderer's field is noise: marching cubes makes a scatter of hundreds of small pieces,
    which real Shap-E output is not, and which the mesh checks rightly refuse. Here the projected
    layers 0-3 get fixed weights (the projection's bias; its LayerNorm scale is a small share of
    the latent), and silu units offset by a large constant pass values through unchanged:
    layer 0 makes silu(a x) + silu(-a x) ~ a |x| per axis, layer 1 sums them into r - |x|_1 and
    also keeps x, y, z (silu(a x) - silu(-a x) = a x), the rest carry those to the output: the sdf
    from the first, the surface colour (STF channels) a random smooth function of the position.
    """
    import torch

    steep, offset = 20.0, 20.0  # silu(20 x) + silu(-20 x) ~ 20 |x|; silu(z + 20) ~ z + 20
    mlp, projections = renderer.mlp.mlp, renderer.params_proj.projections
    designed = [torch.zeros_like(layer.weight) for layer in mlp[:4]]
    for axis in range(3):  # layer 0: the raw position is the first 3 of the 93 encoded inputs
        designed[0][2 * axis, axis], designed[0][2 * axis + 1, axis] = steep, -steep
    designed[1][0, :6] = -1.0 / steep  # r - |x|_1 (+ offset) in unit 0
    designed[1][1, 6] = 1.0  # the offset itself in unit 1
    for axis in range(3):  # x, y, z (+ offset) in units 2-4
        designed[1][2 + axis, 2 * axis], designed[1][2 + axis, 2 * axis + 1] = 1.0 / steep, -1.0 / steep
    carried = range(5)
    for weight in designed[2:]:
        for unit in carried:
            weight[unit, unit] = 1.0
    with torch.no_grad():
        for index, layer in enumerate(mlp):
            layer.bias.zero_()
            if index == 0:
                layer.bias[6] = offset
            elif index == 1:
                layer.bias[0] = radius + offset
                layer.bias[2:5] = offset
            elif 4 <= index < len(mlp) - 1:  # fixed (not projected) hidden layers: carry units 0-4
                layer.weight.zero_()
                for unit in carried:
                    layer.weight[unit, unit] = 1.0
        last = mlp[-1]
        last.weight[0].zero_()
        last.weight[0, 0], last.weight[0, 1] = 4.0, -4.0  # sdf = tanh(4 (r - |x|_1)): positive inside
        colour = last.weight[3:6]  # STF red, green, blue: sigmoid of a random linear map of x, y, z
        colour.zero_()
        colour[:, 2:5] = 3.0 * torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
        last.bias[3:6] = -colour[:, 2:5].sum(dim=1) * offset
        for (name, projection), share, weight in zip(projections.items(), LATENT_SHARE, designed):
            projection.norm.weight.fill_(share)
            projection.norm.bias.zero_()
            projection.proj.bias.copy_(weight.reshape(-1))


def build_tiny_depth(target: Path) -> None:
    """A DPT depth-estimation model (~0.5 MB) with its image processor: a transformers
    ``depth-estimation`` pipeline loads it like Depth-Anything."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, image_size=32,
        patch_size=8, neck_hidden_sizes=[16, 16, 32, 32], fusion_hidden_size=16,
        backbone_out_indices=[0, 1, 2, 3], reassemble_factors=[4, 2, 1, 0.5], is_hybrid=False,
    )
    DPTForDepthEstimation(config).save_pretrained(target, safe_serialization=True)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(target)
