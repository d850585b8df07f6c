"""The tiny kit's causal language model: a Llama-architecture LM with random weights over a
byte-level BPE tokenizer built in code, with a ChatML chat template like SmolLM2 and Qwen2.5."""

from __future__ import annotations

from pathlib import Path

TINY_TEXT_REPO = "assetgen-tiny/text-llm"

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# A few merges so common English fragments are single tokens, as in a real byte-level vocabulary.
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r"), ("o", "n"), ("a", "n"), ("Ġ", "a"),
          ("e", "n"), ("o", "r"), ("Ġ", "s"), ("a", "r")]


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer with ChatML's special tokens and chat template (SmolLM2's format)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    vocab = {symbol: index for index, symbol in enumerate(sorted(ByteLevel.alphabet()))}
    for left, right in MERGES:
        vocab.setdefault(left + right, len(vocab))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=MERGES, unk_token=None, bos_token=None,
                               eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_text_llm(target: Path) -> None:
    """~40 k parameters: generation runs at a few hundred tokens per second on a CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    ))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
