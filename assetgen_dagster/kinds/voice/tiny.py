"""The tiny kit's speech recognizer: a random-weight Whisper (one layer each way, 80 mel bins, the
real 30 s window) with a byte-level vocabulary plus Whisper's special and timestamp tokens, and the
generation config (languages, tasks, alignment heads) its ASR pipeline needs for word timings.
Its transcripts are gibberish; the normaliser, the error rate and the timings still run for real."""

from __future__ import annotations

from pathlib import Path

TINY_SPEECH_RECOGNITION_REPO = "assetgen-tiny/speech-recognition"
TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|> in 20 ms steps, as Whisper's


def build_tiny_speech_recognition(target: Path) -> None:
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>",
                *(f"<|{index * 0.02:.2f}|>" for index in range(TIMESTAMPS))]
    vocab = {symbol: index for index, symbol in enumerate(sorted(ByteLevel.alphabet()))}
    vocab.update({token: len(vocab) + index for index, token in enumerate(specials)})
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[], additional_special_tokens=specials[1:])
    token = tokenizer.convert_tokens_to_ids
    end, start = token("<|endoftext|>"), token("<|startoftranscript|>")
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=1500, max_target_positions=448, pad_token_id=end, bos_token_id=end, eos_token_id=end,
        decoder_start_token_id=start, begin_suppress_tokens=None, suppress_tokens=None))
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start, eos_token_id=end, pad_token_id=end, bos_token_id=end, max_length=448,
        is_multilingual=True, lang_to_id={"<|en|>": token("<|en|>")},
        task_to_id={"transcribe": token("<|transcribe|>"), "translate": token("<|translate|>")},
        no_timestamps_token_id=token("<|notimestamps|>"), prev_sot_token_id=token("<|startofprev|>"),
        alignment_heads=[[0, 0], [0, 1]], begin_suppress_tokens=[token("Ġ"), end], suppress_tokens=[],
        max_initial_timestamp_index=50)
    model.save_pretrained(target, safe_serialization=True)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(target)
