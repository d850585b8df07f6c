"""The tiny kit's text-to-image model: a Stable-Diffusion-architecture pipeline with random weights."""

from __future__ import annotations

from pathlib import Path

from assetgen_dagster.tiny import byte_level_vocab, clip_tokenizer

TINY_TEXT_TO_IMAGE_REPO = "assetgen-tiny/text-to-image"
TINY_TEXTURE_REPO = "assetgen-tiny/texture"


def build_tiny_text_to_image(target: Path) -> None:
    """A Stable-Diffusion-architecture pipeline small enough to run in ~0.1 s per 64x64 image on CPU."""
    tiny_text_to_image().save_pretrained(target, safe_serialization=True)


def build_tiny_texture(target: Path) -> None:
    """The same pipeline, its images spatially smooth as real textures are (random weights give pixel
    noise, in which a seam looks like any other pair of lines and the seam checks measure nothing):
    every 3x3 convolution of the VAE decoder keeps its channel mixing and spreads it as a box blur.
    Generated with wrap-around padding it tiles; with zero padding its opposite edges do not meet."""
    import torch

    pipe = tiny_text_to_image()
    with torch.no_grad():
        for conv in pipe.vae.decoder.modules():
            if isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (3, 3):
                conv.weight.copy_((conv.weight.sum(dim=(2, 3), keepdim=True) / 9.0).expand_as(conv.weight))
    pipe.save_pretrained(target, safe_serialization=True)


def tiny_text_to_image():
    """The tiny Stable Diffusion pipeline with seeded random weights (not saved)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    vocab, _ = byte_level_vocab()
    tokenizer = clip_tokenizer()

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
    return StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


TINY_STYLE_LORA_REPO = "assetgen-tiny/style-lora"
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # the file name diffusers saves and loads by default
SECOND_STYLE = "sketchy.safetensors"  # the repo's other style, for swapping adapters between batches


def build_tiny_style_lora(target: Path) -> None:
    """Two rank-4 LoRAs (their up-projections scaled x8, so the effect shows) for the tiny UNet's
    attention projections, random and non-zero, saved as diffusers' training scripts save one: what
    a studio's style LoRAs are to a real base model. The default file and ``sketchy.safetensors``."""
    from diffusers import StableDiffusionPipeline

    for seed, name in ((1, LORA_WEIGHTS), (2, SECOND_STYLE)):
        StableDiffusionPipeline.save_lora_weights(target, unet_lora_layers=_random_lora(seed), weight_name=name,
                                                  safe_serialization=True)
    (target / "README.md").write_text("---\nlicense: other\nlicense_name: random weights built locally; test use only\n"
                                      "---\nThe tiny kit's style LoRAs (assetgen-dagster).\n")


TINY_IP_ADAPTER_REPO = "assetgen-tiny/ip-adapter"
IP_ADAPTER_WEIGHTS = "models/ip-adapter_sd15.safetensors"  # h94/IP-Adapter's layout, its encoder in models/image_encoder/


def build_tiny_ip_adapter(target: Path) -> None:
    """An IP-Adapter for the tiny UNet in h94/IP-Adapter's layout: a tiny CLIP vision encoder with a
    projection (``models/image_encoder``) and the adapter (``models/ip-adapter_sd15.safetensors``:
    the image projection to four tokens and a key/value projection beside every cross-attention),
    random weights scaled so a reference visibly moves the pixels."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = tiny_text_to_image().unet
    cross = unet.config.cross_attention_dim
    torch.manual_seed(3)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32,
        patch_size=8, projection_dim=32))
    weights = target / IP_ADAPTER_WEIGHTS
    encoder.save_pretrained(weights.parent / "image_encoder", safe_serialization=True)
    tensors = {"image_proj.proj.weight": torch.randn(cross * 4, encoder.config.projection_dim) * 0.5,
               "image_proj.proj.bias": torch.zeros(cross * 4),
               "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    key = 1  # diffusers numbers the cross-attentions 1, 3, 5... in the order of the UNet's processors
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            attention = unet.get_submodule(name.removesuffix(".processor"))
            for projection in ("to_k", "to_v"):
                shape = getattr(attention, projection).weight.shape
                tensors[f"ip_adapter.{key}.{projection}_ip.weight"] = torch.randn(shape) * 4.0 / shape[1] ** 0.5
            key += 2
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()},
              weights)
    (target / "README.md").write_text("---\nlicense: other\nlicense_name: random weights built locally; test use only\n"
                                      "---\nThe tiny kit's IP-Adapter (assetgen-dagster), laid out as h94/IP-Adapter.\n")


def _random_lora(seed: int) -> dict:
    import torch
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    unet = tiny_text_to_image().unet
    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    return {name: weight * 8 if "lora.up" in name or "lora_B" in name else weight for name, weight in layers.items()}
