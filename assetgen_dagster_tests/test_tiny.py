import hashlib

from assetgen_dagster import tiny
from assetgen_dagster.kinds.audio import tiny as audio
from assetgen_dagster.kinds.images.score import TINY_IMAGE_SCORE_REPO
from assetgen_dagster.kinds.images.tiny import TINY_IP_ADAPTER_REPO, TINY_STYLE_LORA_REPO
from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO as TEXT_TO_IMAGE_REPO
from assetgen_dagster.kinds.images.tiny import TINY_TEXTURE_REPO as TEXTURE_REPO
from assetgen_dagster.kinds.mesh.tiny import TINY_DEPTH_REPO as DEPTH_REPO
from assetgen_dagster.kinds.mesh.tiny import TINY_SHAP_E_IMG2IMG_REPO as SHAP_E_IMG2IMG_REPO
from assetgen_dagster.kinds.mesh.tiny import TINY_SHAP_E_REPO as SHAP_E_REPO
from assetgen_dagster.kinds.sprite_animation.tiny import TINY_VIDEO_REPO as VIDEO_REPO
from assetgen_dagster.kinds.text.tiny import TINY_TEXT_REPO as TEXT_LLM_REPO
from assetgen_dagster.kinds.voice.tiny import TINY_SPEECH_RECOGNITION_REPO

from .conftest import REGISTRY

ROLES = REGISTRY.roles


def _digests(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_kit_is_built_in_hub_layout_and_idempotent(tiny_kit):
    snapshot = tiny.ensure_tiny_model(ROLES, TEXT_TO_IMAGE_REPO)
    repo_folder = snapshot.parents[1]
    assert snapshot.name == tiny.snapshot_commit(TEXT_TO_IMAGE_REPO)
    assert (repo_folder / "refs" / "main").read_text() == snapshot.name
    assert (snapshot / "model_index.json").is_file()
    assert not list(snapshot.rglob("*.bin")), "safetensors only"
    before = {p: p.stat().st_mtime_ns for p in snapshot.rglob("*") if p.is_file()}
    assert tiny.ensure_tiny_model(ROLES, TEXT_TO_IMAGE_REPO) == snapshot
    assert {p: p.stat().st_mtime_ns for p in snapshot.rglob("*") if p.is_file()} == before


def test_build_is_byte_reproducible(tiny_kit, tmp_path):
    fresh = tiny.ensure_tiny_model(ROLES, TEXT_TO_IMAGE_REPO, cache_dir=tmp_path)
    assert _digests(fresh) == _digests(tiny.ensure_tiny_model(ROLES, TEXT_TO_IMAGE_REPO))


def test_loads_by_repo_id_offline_through_the_hub_cache(tiny_kit):
    from diffusers import DiffusionPipeline
    from huggingface_hub import snapshot_download

    folder = snapshot_download(TEXT_TO_IMAGE_REPO, local_files_only=True)
    assert folder.endswith(tiny.snapshot_commit(TEXT_TO_IMAGE_REPO))
    pipe = DiffusionPipeline.from_pretrained(TEXT_TO_IMAGE_REPO, local_files_only=True)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    # the offline-tokenizer hazard in NOTES.md: a silently defaulted tokenizer has 2-3 tokens
    assert len(pipe.tokenizer) > 500
    assert pipe.tokenizer.model_max_length == 77
    assert pipe.text_encoder.config.eos_token_id == pipe.tokenizer.eos_token_id
    ids = pipe.tokenizer("a red rock").input_ids
    assert ids[0] == pipe.tokenizer.bos_token_id and ids[-1] == pipe.tokenizer.eos_token_id


def test_the_kit_builds_one_model_per_tiny_repo_of_the_registered_roles(tiny_kit):
    repos = {role.tiny.repo_id for role in ROLES.values()}
    assert repos == {TEXT_TO_IMAGE_REPO, TEXTURE_REPO, SHAP_E_REPO, SHAP_E_IMG2IMG_REPO, DEPTH_REPO, TEXT_LLM_REPO,
                     VIDEO_REPO, audio.TINY_SFX_REPO, audio.TINY_MUSIC_REPO, audio.TINY_VOICE_REPO,
                     TINY_SPEECH_RECOGNITION_REPO, TINY_IMAGE_SCORE_REPO}
    # the voice model's codec and the image models' style LoRAs, built beside them
    assert set(tiny.builders(ROLES)) == repos | {audio.TINY_CODEC_REPO, TINY_STYLE_LORA_REPO, TINY_IP_ADAPTER_REPO}
    assert all(tiny.snapshot_commit(repo) in str(path)
               for repo, path in zip(tiny.builders(ROLES), tiny.ensure_tiny_kit(ROLES)))


def test_the_tiny_llm_loads_offline_with_its_own_tokenizer_and_chat_template(tiny_kit):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny.ensure_tiny_model(ROLES, TEXT_LLM_REPO)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    assert len(tokenizer) > 256 and model.config.vocab_size == len(tokenizer)  # every byte, merges, specials
    assert tokenizer.decode(tokenizer("Grüße, {player}!", add_special_tokens=False).input_ids) == "Grüße, {player}!"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n") and tokenizer.eos_token == "<|im_end|>"


def test_the_tiny_speech_recognizer_loads_offline_and_gives_word_timings(tiny_kit):
    """Whisper's pipeline needs its special tokens, timestamp tokens and alignment heads to time words."""
    import numpy as np
    from transformers import pipeline

    path = tiny.ensure_tiny_model(ROLES, TINY_SPEECH_RECOGNITION_REPO)
    recognizer = pipeline("automatic-speech-recognition", model=str(path), device="cpu")
    tokenizer = recognizer.tokenizer
    assert tokenizer.convert_ids_to_tokens(tokenizer.convert_tokens_to_ids(["<|en|>", "<|30.00|>"])) == ["<|en|>", "<|30.00|>"]
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    heard = recognizer({"raw": noise, "sampling_rate": 16000}, return_timestamps="word",
                       generate_kwargs={"language": "en", "task": "transcribe", "max_new_tokens": 12})
    assert isinstance(heard["text"], str) and heard["chunks"]
    assert all(len(chunk["timestamp"]) == 2 for chunk in heard["chunks"])


def test_the_voice_model_names_its_codec_and_the_loader_fetches_it_as_a_companion(tiny_kit):
    """Dia's processor config names the codec repo (as the real one names descript/dac_44khz); the
    loader reads that name, checks the allow-list and loads it from the same cache, offline."""
    from assetgen_dagster.models.loading import companion_repos

    voice = tiny.ensure_tiny_model(ROLES, audio.TINY_VOICE_REPO)
    assert companion_repos(voice) == [audio.TINY_CODEC_REPO]
    assert companion_repos(tiny.ensure_tiny_model(ROLES, TEXT_LLM_REPO)) == []
    assert {audio.TINY_CODEC_REPO, "descript/dac_44khz"} <= set(ROLES.allowed_repos())
