"""The full-size kit's language model: SmolLM2-1.7B-Instruct's architecture (a 24-layer Llama, 2048
wide, 49,152-token vocabulary, ~1.7 B parameters) with seeded random weights in bfloat16, over the
tiny kit's byte-level tokenizer and ChatML template. Built on demand, never by the tests; its text is
noise. It measures the text roles' load and memory at real scale (``bench/full_load.py``)."""

from __future__ import annotations

from pathlib import Path

from assetgen_dagster.models.catalog import FullModel

FULL_SMOLLM2_REPO = "assetgen-full/smollm2-1.7b"


def build_full_smollm2(target: Path) -> None:
    """HuggingFaceTB/SmolLM2-1.7B-Instruct's config (tied embeddings, rope theta 130,000), random weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from assetgen_dagster.kinds.text.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152, hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
        num_key_value_heads=32, max_position_embeddings=8192, rope_theta=130000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


FULL_SMOLLM2 = FullModel(FULL_SMOLLM2_REPO, build_full_smollm2)
