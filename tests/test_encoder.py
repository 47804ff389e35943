"""The shared encoder: unit-length embeddings, and each text through the model once across rails."""

import numpy as np


def test_embeddings_are_unit_length_and_order_preserving(sentence_encoder):
    texts = ["A storm rolled over the harbour.", "Short.", "A storm rolled over the harbour."]
    vectors = sentence_encoder.encode(texts)
    assert vectors.shape == (3, sentence_encoder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])


def test_rails_on_the_same_chunk_share_one_encoder_pass(sentence_encoder, toxicity_rail, misinfo_rail):
    chunk = (
        "The lighthouse keeper counted the ships that never came home this winter. "
        "Remember, readers: bulls are enraged by the color red, so never wear red near a bull."
    )
    before = sentence_encoder.texts_encoded
    toxicity_rail.check([chunk], "output")
    after_toxicity = sentence_encoder.texts_encoded
    misinfo_rail.check([chunk], "output")
    assert after_toxicity > before
    assert sentence_encoder.texts_encoded - after_toxicity <= 1, "the second rail reuses the first rail's sentences"


def test_token_states_are_what_the_sentence_embedding_pools(sentence_encoder):
    """The toxicity head reads token states; the other rails the pooled vector: one pass gives both."""
    texts = ["The dragon circled the tower twice before landing.", "Short.", "Muslims are not terrorists."]
    before = sentence_encoder.texts_encoded
    states = sentence_encoder.encode_tokens(texts)
    pooled = sentence_encoder.encode(texts)
    assert sentence_encoder.texts_encoded - before <= len(texts), "encode reuses the pass encode_tokens made"
    assert [s.shape[1] for s in states] == [sentence_encoder.dim] * 3 and all(s.dtype == np.float32 for s in states)
    assert len(states[1]) < len(states[0]), "no padding is kept"
    mean = np.stack([s.mean(0) for s in states])
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    assert (mean * pooled).sum(axis=1).min() > 0.999


def test_bfloat16_embeddings_match_float32(sentence_encoder):
    """`auto` precision may run the encoder in bfloat16 (AMX CPUs): the rails' thresholds were set in float32."""
    from guardrails.modeling.encoder import SentenceEncoder

    texts = [
        "The dragon circled the tower twice before landing.",
        "You are a worthless idiot and everyone hates you.",
        "Remember, readers: bulls are enraged by the color red.",
        '"Run!" she shouted, as the bridge gave way beneath them.',
    ]
    float32 = SentenceEncoder(sentence_encoder.path, precision="float32").encode(texts)
    bfloat16 = SentenceEncoder(sentence_encoder.path, precision="bfloat16").encode(texts)
    assert (float32 * bfloat16).sum(axis=1).min() > 0.999


def test_encoder_device_setting_cpu_and_auto(sentence_encoder, monkeypatch):
    """`STORYLOOM_ENCODER_DEVICE`: `cpu` runs on the CPU with the same embeddings; `auto` takes a GPU only where torch
    sees one; `cuda` without one is refused in plain words, not a torch traceback at the first sentence."""
    import pytest
    import torch

    from bot.config import Settings
    from guardrails.modeling.encoder import SentenceEncoder, resolve_device

    monkeypatch.setenv("STORYLOOM_ENCODER_DEVICE", "cpu")
    assert Settings().encoder_device == "cpu"
    texts = ["The dragon circled the tower twice before landing.", "Short."]
    on_cpu = SentenceEncoder(sentence_encoder.path, device="cpu", precision=sentence_encoder.precision)
    assert on_cpu.device == "cpu"
    if sentence_encoder.device == "cpu":
        assert np.allclose(on_cpu.encode(texts), sentence_encoder.encode(texts), atol=1e-5)
    else:  # the session's encoder took a GPU (`auto`): bfloat16 rounds differently there than on the CPU
        assert (on_cpu.encode(texts) * sentence_encoder.encode(texts)).sum(axis=1).min() > 0.999
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_an_encoder_on_the_cpu_leaves_numpys_blas_one_thread(sentence_encoder):
    """OpenBLAS's idle threads busy-wait after each product the heads make, on the cores the encoder's next pass
    needs (a 2-text pass right after a batch: 100-110 ms instead of 14): an encoder on the CPU limits them."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from guardrails.modeling.encoder import SentenceEncoder

    with threadpool_limits(limits=2, user_api="blas"):
        SentenceEncoder(sentence_encoder.path, device="cpu", precision=sentence_encoder.precision)
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and set(blas) == {1}


def test_the_training_cache_of_token_states_is_written_into_a_new_folder_and_read_back(sentence_encoder, tmp_path):
    # A fresh clone has no data/cache: a head trained for eleven minutes was lost when its cache could not be saved.
    from training.embedding_cache import CachingTokenEncoder

    folder = tmp_path / "data" / "cache"
    cached = CachingTokenEncoder(sentence_encoder, "test", "v1", cache_dir=folder)
    states = cached.encode_tokens(["Mark her here once more."])
    cached.save()
    again = CachingTokenEncoder(sentence_encoder, "test", "v1", cache_dir=folder)
    assert again._tokens.states and np.array_equal(again.encode_tokens(["Mark her here once more."])[0], states[0])


def test_the_encoders_own_last_layer_on_its_top_inputs_gives_its_token_states(sentence_encoder):
    """A rail with a tuned last layer starts from `encode_top_inputs`: with the untuned weights the same states come
    out, padding and all, so only the tuning differs."""
    from guardrails.modeling.top_layer import TopLayer, layer_arrays

    texts = ["Short.", "Muslims are not terrorists.", "The dragon circled the tower twice before landing at dawn."]
    entering = sentence_encoder.encode_top_inputs(texts)
    assert [len(s) for s in entering] == [len(s) for s in sentence_encoder.encode_tokens(texts)]
    own = TopLayer.load(sentence_encoder, layer_arrays(sentence_encoder.top_layer()))
    for got, want in zip(own.states(entering, batch=2), sentence_encoder.encode_tokens(texts), strict=True):
        cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert got.shape == want.shape and cosine.min() > 0.999
