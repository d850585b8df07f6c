"""Offline tiny model kit: random-weight models built from configs into a Hugging Face cache layout.

The models load by repo id through the same ``from_pretrained`` / hub-cache path as real models
(with ``HF_HUB_OFFLINE=1``), so tests and the offline demo exercise the real loading code. Their
outputs are noise by design. Weights are seeded, so every machine builds the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

TINY_ORG = "assetgen-tiny"
TEXT_TO_IMAGE_REPO = f"{TINY_ORG}/text-to-image"
SHAP_E_REPO = f"{TINY_ORG}/shap-e"
DEPTH_REPO = f"{TINY_ORG}/depth"

# Bump when a builder changes: the snapshot commit is derived from it, so old builds are not reused.
KIT_VERSION = "1"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache directory, honouring HF_HUB_CACHE and HF_HOME like huggingface_hub does."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def snapshot_commit(repo_id: str) -> str:
    """A stable 40-hex 'commit' for a tiny repo, as a real hub snapshot would have."""
    return hashlib.sha1(f"{repo_id}@tiny-kit-v{KIT_VERSION}".encode()).hexdigest()


def is_tiny_repo(repo_id: str) -> bool:
    return repo_id.startswith(f"{TINY_ORG}/")


def _repo_folder(cache_dir: Path, repo_id: str) -> Path:
    return cache_dir / ("models--" + repo_id.replace("/", "--"))


def ensure_tiny_model(repo_id: str, cache_dir: Path | None = None) -> Path:
    """Build ``repo_id`` into the hub cache unless it is already there; return its snapshot folder.

    Idempotent and safe against a crash mid-build: the snapshot is written to a temp folder and
    renamed into place, and ``refs/main`` is written last.
    """
    builders: dict[str, Callable[[Path], None]] = {
        TEXT_TO_IMAGE_REPO: _build_text_to_image,
        SHAP_E_REPO: _build_shap_e,
        DEPTH_REPO: _build_depth,
    }
    if repo_id not in builders:
        known = ", ".join(sorted(builders))
        raise KeyError(f"{repo_id!r} is not in the tiny model kit (known: {known})")
    return install_snapshot(repo_id, snapshot_commit(repo_id), builders[repo_id], cache_dir)


def install_snapshot(repo_id: str, commit: str, build: Callable[[Path], None], cache_dir: Path | None = None) -> Path:
    """Write a model into the hub cache as ``repo_id`` at ``commit`` (``build(folder)`` saves it),
    unless that snapshot is already complete. Also used by benchmarks for locally built models."""
    cache_dir = cache_dir or hub_cache_dir()
    repo_folder = _repo_folder(cache_dir, repo_id)
    snapshot = repo_folder / "snapshots" / commit
    ref = repo_folder / "refs" / "main"
    if snapshot.is_dir() and ref.is_file() and ref.read_text() == commit:
        return snapshot

    snapshot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=snapshot.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a hub cache is shared
    try:
        build(staging)
        if snapshot.exists():
            shutil.rmtree(snapshot)
        os.replace(staging, snapshot)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp_ref = ref.with_name(f".main.{os.getpid()}")
    tmp_ref.write_text(commit)  # no newline: huggingface_hub reads the file verbatim
    os.replace(tmp_ref, ref)
    return snapshot


def ensure_tiny_kit(cache_dir: Path | None = None) -> list[Path]:
    """Build every model of the kit (used by the demo and the test session)."""
    return [ensure_tiny_model(repo, cache_dir) for repo in (TEXT_TO_IMAGE_REPO, SHAP_E_REPO, DEPTH_REPO)]


def byte_level_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A minimal CLIP-style byte-level BPE vocabulary: the 256 byte symbols, the same with ``</w>``,
    a handful of merges and the two special tokens."""
    from tokenizers.pre_tokenizers import ByteLevel

    symbols = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in symbols + [s + "</w>" for s in symbols]:
        vocab[token] = len(vocab)
    merges = [("a", "r"), ("e", "r</w>"), ("o", "n"), ("i", "n"), ("t", "h"), ("th", "e</w>")]
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


def _build_text_to_image(target: Path) -> None:
    """A Stable-Diffusion-architecture pipeline small enough to run in ~0.1 s per 64x64 image on CPU."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab, merges = byte_level_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="trailing",
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(target, safe_serialization=True)


def _build_shap_e(target: Path) -> None:
    """A Shap-E-architecture text-to-3D pipeline (prior + STF renderer) with a real marching-cubes
    table in its mesh decoder, so ``decode_to_mesh`` returns watertight meshes (16^3 grid: ~10 ms)."""
    import torch
    from diffusers import HeunDiscreteScheduler, PriorTransformer, ShapEPipeline
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    from assetgen_dagster.marching_cubes import marching_cubes_table

    vocab, merges = byte_level_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    torch.manual_seed(0)
    latent_dim, hidden = 16, 8  # the prior emits 4 x hidden latent vectors of latent_dim
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=8, num_layers=1, embedding_dim=latent_dim,
        num_embeddings=4 * hidden, embedding_proj_dim=16, time_embed_dim=4 * latent_dim,
        clip_embed_dim=2 * latent_dim, additional_embeddings=0, time_embed_act_fn="gelu",
        norm_in_type="layer", encoder_hid_proj_type=None, added_emb_type=None,
    )
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, projection_dim=16, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    renderer = ShapERenderer(
        param_shapes=((hidden, 93), (hidden, hidden), (hidden, hidden), (hidden, hidden)),
        d_latent=latent_dim, d_hidden=hidden, n_output=12, background=(0.1, 0.1, 0.1),
    )
    cases, masks = marching_cubes_table()  # zeros in a random model: fill them, they are saved with it
    renderer.mesh_decoder.cases.copy_(torch.from_numpy(cases))
    renderer.mesh_decoder.masks.copy_(torch.from_numpy(masks))
    scheduler = HeunDiscreteScheduler(
        beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample", use_karras_sigmas=True,
        clip_sample=True, clip_sample_range=1.0,
    )
    ShapEPipeline(prior=prior, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
                  shap_e_renderer=renderer).save_pretrained(target, safe_serialization=True)


def _build_depth(target: Path) -> None:
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
