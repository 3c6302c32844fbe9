"""Convert a published BarcodeMamba run (Hub bioscan-ml/BarcodeMamba, e.g.
`BarcodeMamba-dim384-layer2-char/checkpoints/last.ckpt` beside `.hydra/config.yaml`) into a folder that
`AutoModel` and `AutoTokenizer` open.

The checkpoint is PyTorch Lightning's: the weights under `state_dict` with the LightningModule's `model.`
prefix, the Hydra config (OmegaConf objects) under `hyper_parameters`, optimiser and scheduler state. It is
read without running any of it (`models.checkpoints.load_torch_file`). The settings come from the run's
`.hydra/config.yaml` (plain YAML: Hydra writes `${…}` interpolations unresolved, and those are read from
the weights instead) and are checked against the weights' shapes; without a config.yaml everything is read
from the weights, and what the weights cannot tell (one group of B/C, the 660-nt input, `[UNK]` for any
k-mer holding N) is taken from the authors' defaults and said so in the report.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import yaml

from ..checkpoints import ConversionError, load_torch_file, state_dict_of, strip_prefix
from .configuration_barcodemamba import CHARACTERS, SPECIAL_TOKENS, BarcodeMambaConfig
from .modeling_barcodemamba import (
    BarcodeMambaForCausalLM,
    BarcodeMambaForSequenceClassification,
    BarcodeMambaModel,
)
from .tokenization_barcodemamba import tokenizer_for

#: The fine-tuning head's keys (hyena-dna's SequenceDecoder: a linear layer over the mean of the positions).
CLASSIFIER = ("head.output_transform.weight", "head.output_transform.bias")
#: What a config.yaml may say, and the field of `BarcodeMambaConfig` it fills.
MODEL_FIELDS = ("d_model", "n_layer", "d_inner", "pad_vocab_size_multiple", "layer_norm_epsilon", "residual_in_fp32")
LAYER_FIELDS = ("d_state", "d_conv", "expand", "headdim", "ngroups")
#: The class each kind of run converts into.
TARGETS = {
    "causal_lm": BarcodeMambaForCausalLM,
    "classification": BarcodeMambaForSequenceClassification,
    "model": BarcodeMambaModel,
}


def find_config(checkpoint: Path) -> Path | None:
    """The run's config.yaml: `<run>/.hydra/config.yaml` for `<run>/checkpoints/last.ckpt`, else
    `<run>/config.yaml` (where one Hub revision kept it) or beside the checkpoint."""
    run = checkpoint.parent.parent
    for candidate in (run / ".hydra" / "config.yaml", run / "config.yaml", checkpoint.parent / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None


def _plain(value: object) -> object:
    """A YAML value, or None where Hydra left an interpolation (`${…}`) unresolved."""
    return None if isinstance(value, str) and "${" in value else value


def read_run_config(path: Path) -> dict:
    """The settings of a run's config.yaml that decide the model and its inputs (interpolations dropped)."""
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConversionError(f"{path}: not readable YAML ({err})") from err
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ConversionError(f"{path}: no `model:` section; give the run's .hydra/config.yaml")
    model, layer = config["model"], config["model"].get("layer") or {}
    tokenizer, dataset = config.get("tokenizer") or {}, config.get("dataset") or {}
    settings = {name: _plain(model.get(name)) for name in MODEL_FIELDS}
    settings |= {name: _plain(layer.get(name)) for name in LAYER_FIELDS}
    settings |= {
        "mamba_ver": _plain(model.get("mamba_ver")),
        "tokenizer": _plain(tokenizer.get("name")),  # "k-mer" in an early Hub revision: read as k_mer
        "k_mer": _plain(tokenizer.get("k_mer")),
        "stride": _plain(tokenizer.get("stride")),
        "characters": _plain(tokenizer.get("characters")),
        "use_unk_token": _plain(tokenizer.get("use_unk_token")),
        "max_len": _plain(dataset.get("max_len")),
        "phase": _plain(dataset.get("phase")),
    }
    if isinstance(settings["tokenizer"], str):
        settings["tokenizer"] = settings["tokenizer"].replace("-", "_")
    return {name: value for name, value in settings.items() if value is not None}


def check_run_config(settings: dict, where: str) -> None:
    """Refuse runs whose model or inputs are not the ones this conversion reproduces, naming the setting."""
    if settings.get("mamba_ver", "mamba2") != "mamba2":
        raise ConversionError(f"{where}: mamba_ver={settings['mamba_ver']!r}; only Mamba-2 runs (mamba2) convert")
    if settings.get("tokenizer", "char") not in ("char", "k_mer"):
        raise ConversionError(f"{where}: tokenizer {settings['tokenizer']!r} is neither 'char' nor 'k_mer'")
    if "characters" in settings and tuple(settings["characters"]) != CHARACTERS:
        raise ConversionError(f"{where}: characters {settings['characters']} differ from the published A C G T N")
    if settings.get("tokenizer") == "k_mer":
        if settings.get("use_unk_token") is False:
            raise ConversionError(f"{where}: use_unk_token false (k-mers over ACGTN); only [UNK] for N converts")
        if settings.get("stride", settings.get("k_mer")) != settings.get("k_mer"):
            raise ConversionError(f"{where}: stride {settings['stride']} ≠ k_mer; only non-overlapping k-mers convert")


def shapes_of(state: dict[str, torch.Tensor], where: str) -> dict:
    """The sizes the weights fix: d_model, n_layer, d_inner, vocabulary rows, expand, heads, conv width."""
    try:
        embeddings = state["backbone.embeddings.word_embeddings.weight"]
        mixer = "backbone.layers.0.mixer."
        d_model = embeddings.shape[1]
        d_ssm = state[f"{mixer}out_proj.weight"].shape[1]
        nheads = state[f"{mixer}A_log"].shape[0]
        conv = state[f"{mixer}conv1d.weight"]
        return {
            "vocab_size": embeddings.shape[0],
            "d_model": d_model,
            "n_layer": len({key.split(".")[2] for key in state if key.startswith("backbone.layers.")}),
            "d_inner": state["backbone.layers.0.mlp.fc1.weight"].shape[0],
            "expand": d_ssm // d_model,
            "headdim": d_ssm // nheads,
            "d_conv": conv.shape[-1],
            "group_state": (conv.shape[0] - d_ssm) // 2,  # ngroups × d_state
        }
    except KeyError as err:
        raise ConversionError(f"{where}: no BarcodeMamba weight {err.args[0]!r}; is this a BarcodeMamba run?") from None


def tokenizer_from_rows(rows: int, multiple: int, where: str) -> dict:
    """The tokenizer a vocabulary of `rows` embeddings (padded to `multiple`) belongs to."""
    for name, k in [("char", None), *(("k_mer", k) for k in range(1, 13))]:
        tokens = len(SPECIAL_TOKENS) + (len(CHARACTERS) if k is None else 4**k)
        if -(-tokens // multiple) * multiple == rows:
            return {"tokenizer": name, "k_mer": k}
    raise ConversionError(f"{where}: {rows} embedding rows fit neither the character nor a k-mer vocabulary")


def build_config(settings: dict, shapes: dict, where: str) -> tuple[BarcodeMambaConfig, list[str]]:
    """The config from config.yaml's settings and the weights' shapes (which must agree); and what had to
    be assumed, for the report."""
    for name in ("d_model", "n_layer", "d_inner", "expand", "headdim", "d_conv"):
        if name in settings and settings[name] != shapes[name]:
            raise ConversionError(f"{where}: config.yaml says {name}={settings[name]}, the weights {shapes[name]}")
    assumed = []
    multiple = settings.get("pad_vocab_size_multiple", 8)
    reading = tokenizer_from_rows(shapes["vocab_size"], multiple, where)
    said = (settings.get("tokenizer", reading["tokenizer"]), settings.get("k_mer", reading["k_mer"]))
    if said[0] != reading["tokenizer"] or (said[0] == "k_mer" and said[1] != reading["k_mer"]):
        raise ConversionError(
            f"{where}: config.yaml's tokenizer ({said[0]}, k_mer={said[1]}) does not fit the weights' "
            f"{shapes['vocab_size']}-row vocabulary ({reading['tokenizer']}, k_mer={reading['k_mer']})"
        )
    if "tokenizer" not in settings:
        assumed.append(f"tokenizer {reading['tokenizer']} (from the vocabulary size), [UNK] for N, stride = k")
    if "d_state" in settings:
        ngroups = settings.get("ngroups", 1)
        if ngroups * settings["d_state"] != shapes["group_state"]:
            raise ConversionError(
                f"{where}: ngroups × d_state = {ngroups * settings['d_state']}, weights {shapes['group_state']}"
            )
        d_state = settings["d_state"]
    else:
        ngroups, d_state = 1, shapes["group_state"]
        assumed.append(f"one group of B/C (mamba_ssm's default), so d_state={d_state}")
    if "max_len" not in settings:
        assumed.append("660-nt inputs (the authors' max_len)")
    config = BarcodeMambaConfig(
        d_model=shapes["d_model"],
        n_layer=shapes["n_layer"],
        d_inner=shapes["d_inner"],
        vocab_size=shapes["vocab_size"],
        pad_vocab_size_multiple=multiple,
        d_state=d_state,
        d_conv=shapes["d_conv"],
        expand=shapes["expand"],
        headdim=shapes["headdim"],
        ngroups=ngroups,
        layer_norm_epsilon=settings.get("layer_norm_epsilon", 1e-5),
        residual_in_fp32=settings.get("residual_in_fp32", True),
        tokenizer=reading["tokenizer"],
        k_mer=reading["k_mer"],
        max_nucleotides=settings.get("max_len", 660) if reading["tokenizer"] == "k_mer" else 660,
    )
    kind = "char" if config.tokenizer == "char" else f"{config.k_mer}-mer"
    config.release = (
        f"BarcodeMamba dim{config.d_model}-layer{config.n_layer}-{kind} ({settings.get('phase', 'pretrain')})"
    )
    return config, assumed


def map_state(state: dict[str, torch.Tensor], where: str) -> tuple[dict[str, torch.Tensor], str]:
    """(state, target): the pre-training run's next-token head → 'causal_lm', a fine-tuning run's
    `SequenceDecoder` → 'classification', no head → 'model'; every key mapped, else an error listing them."""
    unknown = sorted(key for key in state if not key.startswith(("backbone.", "head.")))
    unknown += sorted(k for k in state if k.startswith("head.") and k not in ("head.weight", *CLASSIFIER))
    if unknown:
        raise ConversionError(f"{where}: cannot map {len(unknown)} key(s) onto BarcodeMamba: {', '.join(unknown)}")
    if "head.weight" in state:
        return state, "causal_lm"
    if CLASSIFIER[0] in state:
        return state, "classification"
    return {k.removeprefix("backbone."): v for k, v in state.items()}, "model"


def convert_barcodemamba(
    checkpoint: str | os.PathLike, out: str | os.PathLike, config_yaml: str | os.PathLike | None = None
) -> dict:
    """Convert a BarcodeMamba Lightning checkpoint (and its run's config.yaml) into `out`; returns a report:
    target class, release, tokenizer, converted keys (all of them: none is dropped), the config file read,
    what was assumed."""
    checkpoint = Path(checkpoint)
    where = str(checkpoint)
    config_path = Path(config_yaml) if config_yaml else find_config(checkpoint)
    settings = read_run_config(config_path) if config_path else {}
    check_run_config(settings, str(config_path))
    state = strip_prefix(state_dict_of(load_torch_file(checkpoint), where), "model.")
    config, assumed = build_config(settings, shapes_of(state, where), where)
    mapped, target = map_state(state, where)
    if target == "classification":
        config.num_labels = state[CLASSIFIER[0]].shape[0]
        assumed.append("class names: not in the checkpoint (labels are indices of the run's sorted species names)")
    model = TARGETS[target](config)
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    if missing or unexpected:
        raise ConversionError(f"{where}: the weights do not fit: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(out)
    tokenizer_for(config).save_pretrained(out)
    return {
        "target": type(model).__name__,
        "release": config.release,
        "tokenizer": "characters" if config.tokenizer == "char" else f"{config.k_mer}-mers",
        "converted_keys": len(mapped),
        "config_file": str(config_path) if config_path else None,
        "assumed": assumed,
    }
