"""`training.tune_encoder`, the fit step of a rail's tuned encoder, on a tiny BERT the test builds: what it writes,
that every training window gets an out-of-fold probability, and that the same input and seed give the same model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import tune_encoder

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB, LAYERS, HIDDEN = 40, 2, 16


@pytest.fixture(scope="module")
def fit_input(tmp_path_factory):
    """A tiny encoder and 120 windows whose label is whether token 7 occurs in them."""
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    torch.manual_seed(0)
    base = transformers.BertModel(config, add_pooling_layer=False).state_dict()
    rng = np.random.default_rng(0)
    rows = [[1, *rng.integers(8, VOCAB, rng.integers(2, 9)).tolist(), 2] for _ in range(120)]
    for row in rows[::2]:
        row.insert(1 + rng.integers(0, len(row) - 1), 7)
    labels = np.array([7 in row for row in rows], np.float32)
    train_ids, train_lengths = tune_encoder.flatten(rows)
    validation_ids, validation_lengths = tune_encoder.flatten(rows[:10])
    path = tmp_path_factory.mktemp("fit") / "fit_input.npz"
    np.savez(
        path, config=json.dumps(config.to_dict()), train_ids=train_ids, train_lengths=train_lengths, train_y=labels,
        train_w=np.ones(len(rows), np.float32), train_fold=np.arange(len(rows)) % 10,
        validation_ids=validation_ids, validation_lengths=validation_lengths,
        **{tune_encoder.BASE_PREFIX + name: value.numpy() for name, value in base.items() if not name.endswith("position_ids")},
    )  # fmt: skip
    return path


def fit(fit_input, out):
    assert tune_encoder.main([str(fit_input), str(out), "--device", "cpu"]) == 0
    with np.load(out / "fit.npz") as result:
        return {name: result[name] for name in result.files}


def test_the_fit_writes_each_layer_the_head_and_a_probability_for_every_window(fit_input, tmp_path):
    result = fit(fit_input, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("layer_*.npz")) == [f"layer_{i}.npz" for i in range(LAYERS)]
    with np.load(tmp_path / "layer_0.npz") as layer:
        assert {layer[name].dtype for name in layer.files} == {np.dtype(np.float16)}
        assert "attention.self.query.weight" in layer.files
    assert result["oof"].shape == (120,) and np.isfinite(result["oof"]).all() and (0 <= result["oof"]).all()
    assert result["validation"].shape == (10,) and result["proj_w"].shape == (HIDDEN, tune_encoder.TuneSettings().hidden)
    meta = json.loads(str(result["meta"]))
    assert meta["device"] == "cpu" and meta["seed"] == tune_encoder.SEED and meta["settings"]["folds"] == 5


def test_the_same_input_and_seed_give_the_same_model(fit_input, tmp_path):
    first, second = fit(fit_input, tmp_path / "a"), fit(fit_input, tmp_path / "b")
    assert all(np.array_equal(first[name], second[name]) for name in first if name != "meta")
    with np.load(tmp_path / "a" / "layer_1.npz") as a, np.load(tmp_path / "b" / "layer_1.npz") as b:
        assert all(np.array_equal(a[name], b[name]) for name in a.files)


def test_a_run_stopped_part_way_goes_on_from_its_last_fit_and_writes_the_same_model(fit_input, tmp_path, monkeypatch):
    whole = fit(fit_input, tmp_path / "whole")
    stopped = tmp_path / "stopped"
    fit(fit_input, stopped)
    for name in ("fit.npz", "fold_3.npz", "fold_4.npz"):  # as if the machine went away during fold 3
        (stopped / name).unlink()
    fitted = []
    real_fit = tune_encoder.Tuner.fit
    monkeypatch.setattr(tune_encoder.Tuner, "fit", lambda self, rows, seed: fitted.append(seed) or real_fit(self, rows, seed))
    resumed = fit(fit_input, stopped)
    assert fitted == [tune_encoder.SEED + 4, tune_encoder.SEED + 5]
    assert all(np.array_equal(whole[name], resumed[name]) for name in whole if name != "meta")
    assert json.loads(str(resumed["meta"]))["resumed"] == ["everything", "fold_0", "fold_1", "fold_2"]


def test_a_fit_from_another_input_is_not_resumed(fit_input, tmp_path):
    fit(fit_input, tmp_path)
    with pytest.raises(SystemExit, match="another input"):
        tune_encoder.main([str(fit_input), str(tmp_path), "--device", "cpu", "--rows", "60"])
