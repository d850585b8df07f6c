"""Generation constrained to a JSON schema or a regular expression, so every output parses.

lm-format-enforcer (MIT) does the constraint: a character-level parser walks the tokenizer's prefix
tree and allows only tokens that keep the output valid. Its transformers integration does not
import under transformers 5, so the small glue is here: the tokenizer table (built once per
tokenizer) and a ``prefix_allowed_tokens_fn`` for ``model.generate``. Tokens that decode to
control characters or to part of a UTF-8 character are left out: JSON forbids the former, and
the enforcer cannot track the latter (a real vocabulary has whole tokens for common characters).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Constrained:
    """One output and what it cost."""

    text: str
    tokens: int
    seconds: float
    constraint_seconds: float  # time inside the enforcer (token filtering)

    def parsed(self) -> Any:
        """The JSON value of a schema-constrained output, or None if it stopped short (token limit)."""
        import json

        try:
            return json.loads(self.text)
        except ValueError:
            return None


def tokenizer_table(tokenizer: Any) -> tuple[Any, str]:
    """lm-format-enforcer's token table for ``tokenizer`` and the alphabet its tokens can spell."""
    if tokenizer not in _TABLES:
        from lmformatenforcer import TokenEnforcerTokenizerData

        zero = tokenizer.encode("0", add_special_tokens=False)[-1]
        special = set(tokenizer.all_special_ids)
        regular = []
        for token in range(len(tokenizer)):
            if token in special:
                continue
            after_zero = tokenizer.decode([zero, token])[1:]  # keeps a leading space that decode alone drops
            if not after_zero or "\ufffd" in after_zero or any(ord(c) < 32 or ord(c) == 127 for c in after_zero):
                continue
            regular.append((token, after_zero, len(after_zero) > len(tokenizer.decode([token]))))
        table = TokenEnforcerTokenizerData(regular, lambda ids: tokenizer.decode(ids).rstrip("\ufffd"),
                                           tokenizer.eos_token_id, False, len(tokenizer))
        alphabet = "".join(sorted({c for _, text, _ in regular for c in text}))
        _TABLES[tokenizer] = (table, alphabet)
    return _TABLES[tokenizer]


def generate(pipe: Any, messages: list[dict[str, str]], seed: int, max_new_tokens: int, temperature: float,
             top_p: float, schema: dict[str, Any] | None = None, pattern: str | None = None) -> Constrained:
    """Chat-formatted ``messages`` -> text that matches ``schema`` (JSON) or ``pattern`` (regex).
    Seeded sampling: the same seed gives the same text."""
    import torch
    from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser, RegexParser, TokenEnforcer

    model, tokenizer = pipe.model, pipe.tokenizer
    table, alphabet = tokenizer_table(tokenizer)
    config = CharacterLevelParserConfig(alphabet=alphabet, max_consecutive_whitespaces=1, force_json_field_order=True)
    parser = JsonSchemaParser(schema, config=config) if schema is not None else RegexParser(pattern, config=config)
    enforcer = TokenEnforcer(table, parser)
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    input_ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(model.device)
    start, spent = input_ids.shape[1], [0.0]

    def allowed(_batch: int, sequence: Any) -> list[int]:
        began = time.perf_counter()
        tokens = enforcer.get_allowed_tokens(sequence[start:].tolist()).allowed_tokens
        spent[0] += time.perf_counter() - began
        return tokens

    began = time.perf_counter()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # generate() samples from torch's global generator
    try:
        with torch.inference_mode():
            output = model.generate(input_ids, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                    temperature=temperature or None, top_p=top_p, top_k=0,
                                    prefix_allowed_tokens_fn=allowed, pad_token_id=tokenizer.pad_token_id)
    finally:
        torch.random.set_rng_state(generator_state)
    new = output[0, start:]
    return Constrained(tokenizer.decode(new, skip_special_tokens=True), int(new.shape[0]),
                       time.perf_counter() - began, spent[0])
