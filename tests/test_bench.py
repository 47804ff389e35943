"""Each benchmark runs end to end in its tiny `--quick` mode and ends with one JSON object holding its keys as numbers.

Run as `python -m bench NAME --quick --json` in a child process, as a person would; the figures of a quick run
mean nothing, only that every part of the benchmark works. Those that load models are marked slow.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_bench(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", name, "--quick", "--json", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    last = completed.stdout.strip().splitlines()[-1]
    out = json.loads(last)
    assert out["benchmark"] == name and out["date"] and out["machine"] and out["command"].startswith("python -m bench")
    return out


def assert_numbers(out: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(out[key], (int, float)) and not isinstance(out[key], bool), (key, out.get(key))
        assert math.isfinite(out[key]) and out[key] >= 0, (key, out[key])


@pytest.fixture
def model_cache(engine_model_cache_dir: Path, prepared_model_dir: Path) -> dict[str, str]:
    """The child process finds the shipped model where the test session converted it."""
    return {"STORYLOOM_MODEL_CACHE_DIR": str(engine_model_cache_dir)}


def test_provenance_writes_records_and_the_raw_baseline() -> None:
    out = run_bench("provenance")
    assert_numbers(out, "records_per_s", "ratio_to_raw", "raw_records_per_s")
    assert out["chain_entries"] == out["records"] == 200  # every record ended and was chained


def test_ratelimit_measures_the_shared_counter_against_its_baselines() -> None:
    out = run_bench("ratelimit")
    for key in ("shared", "empty_write_transaction", "in_process"):
        assert_numbers(out[key], "per_s", "p50_ms", "p99_ms")
    assert out["requests"] == 200 and out["refused"] == 0


def test_audit_queries_and_verify_on_a_small_database(tmp_path: Path) -> None:
    out = run_bench("audit", "--path", str(tmp_path / "audit.sqlite3"))
    assert_numbers(out, "p95_ms", "verify_s", "verify_full_estimate_s")
    assert out["verify_intact"] is True and out["verify_entries"] > 0
    full = run_bench("audit", "--path", str(tmp_path / "audit.sqlite3"), "--verify", "full", "--verify-workers", "2", "--verify-baseline")
    assert_numbers(full, "verify_full_s", "verify_engine_parallel_s", "verify_over_engine")
    assert full["verify_scope"] == "whole database" and full["verify_entries"] > out["verify_entries"]


def test_unknown_benchmark_is_named() -> None:
    completed = subprocess.run([sys.executable, "-m", "bench", "nope"], cwd=REPO, capture_output=True, text=True)
    assert completed.returncode != 0 and "unknown benchmark 'nope'" in completed.stderr


@pytest.mark.slow
def test_pipeline_against_the_raw_engine(model_cache: dict[str, str]) -> None:
    out = run_bench("pipeline", env=model_cache)
    assert out["engine"] == "transformers"
    assert_numbers(out, "ratio_c1", "ratio_c2")
    assert out["levels"]["2"]["pipeline"]["delivered"] == 2


@pytest.mark.slow
def test_rails_outputs_per_second_and_share_of_generation(model_cache: dict[str, str]) -> None:
    out = run_bench("rails", env=model_cache)
    assert_numbers(out, "outputs_per_s", "rails_over_generation")
    assert_numbers(out["prompts"], "p50_ratio")
    assert_numbers(out["prompts"]["tuned"], "p50_ms", "p95_ms")
    assert out["prompts"]["tuned"]["prompts"] == out["prompts"]["head_only"]["prompts"] == 32
    assert_numbers(out["dangerous_on_output"], "ratio")
    assert [len(out["dangerous_on_output"][side]["runs"]) for side in ("tuned", "head_only")] == [2, 2]


@pytest.mark.slow
def test_writing_shaped_against_free_on_one_poem(model_cache: dict[str, str]) -> None:
    out = run_bench("writing", "--kinds", "poem", env=model_cache)
    assert_numbers(out, "free_clean_ending", "shaped_clean_ending", "shaped_shape", "shaped_blocked", "shaped_s_per_piece")
    [cell] = out["cells"].values()
    assert cell["shaped"]["requests"] == cell["free"]["requests"] == 1
    assert cell["shaped"]["pieces"][0]["status"] in ("delivered", "blocked", "held")


@pytest.mark.slow
def test_loop_lag_with_requests_in_flight() -> None:
    out = run_bench("loop")
    assert_numbers(out, "lag_p50_ms", "lag_p99_ms")
    assert out["delivered"] == out["requests"]


@pytest.mark.slow
def test_streaming_first_visible_text(model_cache: dict[str, str]) -> None:
    out = run_bench("streaming", env=model_cache)
    assert_numbers(out, "first_visible_ms", "added_by_pipeline_p50_ms")


def test_vllm_is_named_when_missing() -> None:
    pytest.importorskip("bench.loopback")
    from bench.loopback import vllm_installed

    if vllm_installed():
        pytest.skip("vLLM is installed here")
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "pipeline", "--quick", "--engine", "vllm"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode != 0 and "vLLM is not installed" in completed.stderr


def test_guard_model_concurrent_against_one_at_a_time() -> None:
    out = run_bench("guard_model")
    assert_numbers(out, "llamaguard3_texts_per_s", "llamaguard3_speedup")
    assert set(out["formats"]) == {"llamaguard3", "shieldgemma"} and out["texts"] == 8


@pytest.mark.slow
def test_gpu_sim_pipeline_in_front_of_a_fast_engine() -> None:
    """The simulated GPU engine in its own process, the whole pipeline on the CPU encoder (the path tested here)."""
    out = run_bench("gpu_sim", "--encoder-device", "cpu")
    assert_numbers(out, "ratio_c2", "cpu_ms_per_token_c2", "lag_p99_ms_c2", "ratio_c4", "peak_rss_mib")
    assert out["encoder_device"] == "cpu (cpu)"
    for level in ("2", "4"):
        pipeline = out["levels"][level]["pipeline"]
        assert pipeline["delivered"] == pipeline["requests"] == int(level)
        assert pipeline["tokens"] == out["levels"][level]["engine"]["tokens"] == 160 * int(level)  # `short`: 160 each
    assert sum(out["profile"]["loop_ms_per_token_by_stage"].values()) > 0


@pytest.mark.slow
def test_processes_share_one_database_and_engine_by_shard() -> None:
    """Real `storyloom run` processes, one shard each, on the loopback Discord: every request delivered, each
    process takes its own shard's share, and the tokens add up to what the engine wrote."""
    out = run_bench("processes")
    assert_numbers(out, "offered_tokens_per_s", "tokens_per_s_p1", "records_per_s_p1", "tokens_per_s_p2")
    for count in ("1", "2"):
        level = out["levels"][count]
        assert level["delivered"] == level["requests"] == 8
        assert level["tokens"] == 160 * 8  # `short`: 160 tokens each
        assert len(level["requests_by_instance"]) == int(count)
        assert sum(level["requests_by_instance"].values()) == 8


def test_story_tokens_are_token_sized_and_lose_nothing() -> None:
    from bench.gpu_sim import story_tokens

    text = 'The keeper climbed the stairs at dusk, "unbelievably" tired. He trimmed the wick.\n\nIt was 1899.'
    tokens = story_tokens(text)
    assert "".join(tokens) == text
    assert max(len(token) for token in tokens) <= 6 and 2 <= len(text) / len(tokens) <= 6


@pytest.mark.slow
def test_encoder_training_times_training_against_inference() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.encoder_training", "--rows", "64", "--batch", "32", "--epoch-rows", "1000"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [line.split() for line in completed.stdout.splitlines() if line.startswith(("float32", "bfloat16"))]
    assert [row[0] for row in rows] == ["float32", "bfloat16"]
    for row in rows:
        inference, training = float(row[2].removesuffix("/s")), float(row[4].removesuffix("/s"))
        assert 0 < training < inference, row
