"""Model commands: `convert-barcodebert`, `convert-barcodemae`, `convert-barcodemamba`, `convert-clibd`,
`model-card`, `push-model`, `models`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bioscan_hf.commands.common import Command
from bioscan_hf.core.errors import InputError, MissingFileError
from bioscan_hf.core.options import option
from bioscan_hf.core.paths import user_path
from bioscan_hf.embedding import ENCODER_FAMILIES
from bioscan_hf.hub.cards import write_barcodebert_card, write_clibd_card
from bioscan_hf.hub.settings import HubSettings
from bioscan_hf.models.barcodebert.convert_barcodebert import convert_barcodebert
from bioscan_hf.models.barcodebert.convert_barcodemae import convert_barcodemae
from bioscan_hf.models.barcodemamba.convert_barcodemamba import convert_barcodemamba
from bioscan_hf.models.clibd.convert_clibd import convert_clibd


@dataclass(kw_only=True)
class ConvertBarcodeBertOptions:
    source: str = option("Hub-layout folder or .pth/.pt file", positional=True)
    out: str = option("folder for the converted model and tokenizer")
    config: str | None = option("BERT config.json, when the .pth file does not carry one", None)
    legacy_attend_to_padding: bool | None = option(
        "reproduce the original code's embeddings (padding attended to and averaged); the default for the first "
        "release (its vocabulary of 4**k + 3 tokens)",
        None,
    )


def run_convert_barcodebert(o: ConvertBarcodeBertOptions) -> None:
    config = json.loads(Path(o.config).read_text()) if o.config else None
    report = convert_barcodebert(o.source, o.out, config, o.legacy_attend_to_padding)
    print(f"{report['release']}: {report['target']} with {report['converted_keys']} tensors saved to {o.out}")
    print(f"vocabulary {report['vocab_preset']!r} (k={report['k']}); pooling: {report['pooling']}")
    if report["dropped_keys"]:
        print(f"not carried over: {', '.join(report['dropped_keys'])}")


def _print_report(report: dict, out: str) -> None:
    print(f"{report['release']}: {report['target']} with {report['converted_keys']} tensors saved to {out}")
    for note in report.get("assumed", []):
        print(f"assumed (not in the run's files): {note}")
    if report.get("dropped_keys"):
        print(f"not carried over: {', '.join(report['dropped_keys'])}")


@dataclass(kw_only=True)
class ConvertBarcodeMaeOptions:
    checkpoint: str = option("the release's best_pretraining.pt (or a whole MAELMModel checkpoint)", positional=True)
    out: str = option("folder for the converted encoder and its k-mer tokenizer")


def run_convert_barcodemae(o: ConvertBarcodeMaeOptions) -> None:
    report = convert_barcodemae(o.checkpoint, o.out)
    _print_report(report, o.out)
    print(f"vocabulary {report['vocab_preset']!r} (k={report['k']}); pooling: {report['pooling']}")
    print(f"training options {report['options']}")


@dataclass(kw_only=True)
class ConvertBarcodeMambaOptions:
    checkpoint: str = option("a run's checkpoints/last.ckpt (PyTorch Lightning)", positional=True)
    out: str = option("folder for the converted model and its tokenizer")
    config: str | None = option("the run's config.yaml (default: RUN/.hydra/config.yaml beside checkpoints/)", None)


def run_convert_barcodemamba(o: ConvertBarcodeMambaOptions) -> None:
    report = convert_barcodemamba(o.checkpoint, o.out, o.config)
    _print_report(report, o.out)
    print(
        f"tokens: {report['tokenizer']} of the barcode left-padded with N to 660 nt; settings from "
        f"{report['config_file'] or 'the weights alone'}"
    )


@dataclass(kw_only=True)
class ConvertClibdOptions:
    checkpoint: str = option("the release's best.pth (a SimpleCLIP state dict)", positional=True)
    out: str = option("folder for the converted model and processor")
    text_tokenizer: str | None = option(
        "BERT-small's tokenizer: a local folder or Hub id (default prajjwal1/bert-small, downloaded)", None
    )
    image_heads: int | None = option("attention heads of the image tower (default hidden / 64)", None)
    dna_heads: int | None = option("attention heads of the dna tower (default hidden / 64)", None)
    text_heads: int | None = option("attention heads of the text tower (default hidden / 64)", None)


def run_convert_clibd(o: ConvertClibdOptions) -> None:
    heads = {t: getattr(o, f"{t}_heads") for t in ("image", "dna", "text") if getattr(o, f"{t}_heads")}
    report = convert_clibd(o.checkpoint, o.out, text_tokenizer=o.text_tokenizer, heads=heads)
    towers = " + ".join(report["towers"])
    print(f"{report['release']}: CLIBD ({towers}) with {report['converted_keys']} tensors saved to {o.out}")
    print(f"LoRA merged into the {' + '.join(report['lora_merged']) or 'no'} tower(s)")
    if report["dropped_keys"]:
        print("not carried over:\n  " + "\n  ".join(report["dropped_keys"]))


@dataclass(kw_only=True)
class ModelCardOptions:
    model: str = option("model folder (a BarcodeBERT's metrics.json, if any, fills the results)", positional=True)
    repo_id: str = option("the Hub id the card refers to")
    data_note: str = option("what the model was trained on (say if data is synthetic)", "")
    retrieval: str | None = option("CLIBD: the output folder of `evaluate retrieval` for the results table", None)


def run_model_card(o: ModelCardOptions) -> None:
    config = user_path(o.model) / "config.json"
    if not config.is_file():
        raise MissingFileError(f"{o.model} has no config.json: not a saved model folder")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type == "clibd":
        path = write_clibd_card(o.model, o.repo_id, o.data_note, o.retrieval)
    elif model_type == "barcodebert":
        path = write_barcodebert_card(o.model, o.repo_id, o.data_note)
    else:
        raise InputError(f"{o.model}: model-card writes cards for BarcodeBERT and CLIBD folders, not {model_type!r}")
    print(f"card written to {path}")


@dataclass(kw_only=True)
class PushModelInputs:
    model: str = option("model folder (e.g. OUT/final; run `model-card` first for its card)", positional=True)


def run_push_model(inputs: PushModelInputs, hub: HubSettings) -> None:
    from bioscan_hf.hub.upload import upload_folder

    url = upload_folder(
        inputs.model, "model", hub, ignore_patterns=["checkpoint-*/**"], message="Upload a model with bioscan-hf"
    )
    print(f"uploaded to {url}")


@dataclass(kw_only=True)
class ModelsOptions:
    """No options: the list is the registry."""


def run_models(o: ModelsOptions) -> None:
    width = max(len(family.syntax) for family in ENCODER_FAMILIES)
    for family in ENCODER_FAMILIES:
        print(f"{family.syntax:{width}}  {family.embeds:12}  {family.summary}")
    print(f"{'align':{width}}  {'DNA':12}  exact alignment (edlib): a scorer for `evaluate knn`, no embeddings")


COMMANDS: dict[str, Command] = {
    "convert-barcodebert": Command(
        ConvertBarcodeBertOptions,
        run_convert_barcodebert,
        "Convert the Hub repo layout (BERT weights + config.json) or a training .pth file into a BarcodeBERT "
        "folder with the original k-mer vocabulary. Recognised: the first release (k=4/5/6 12-12 .pth files "
        "without config, and the k=5 model inside CLIBD), the current releases (e.g. BIOSCAN-5M's 8-4-4, "
        "CANADA-1.5M 4-4-4); the release, vocabulary and pooling are recorded in the config.",
    ),
    "convert-barcodemae": Command(
        ConvertBarcodeMaeOptions,
        run_convert_barcodemae,
        "Convert a BarcodeMAE checkpoint (arXiv 2502.18405; the authors' best_pretraining.pt, distributed "
        "outside the Hub) into a BarcodeBERT folder: its encoder is a BERT over BarcodeBERT's k-mer vocabulary, "
        "embedded as their k-NN code did (mean of the last layer over real tokens). Runs with BPE tokens, k-mers "
        "over ACGTN or overlapping k-mers are refused, naming the option.",
    ),
    "convert-barcodemamba": Command(
        ConvertBarcodeMambaOptions,
        run_convert_barcodemamba,
        "Convert a published BarcodeMamba run (Hub bioscan-ml/BarcodeMamba: checkpoints/last.ckpt and "
        ".hydra/config.yaml) into a folder AutoModel/AutoTokenizer open: Mamba-2 blocks on transformers' "
        "Mamba2Mixer (runs on CPU without mamba_ssm), the character or k-mer tokenizer, and their embedding "
        "(mean of the last hidden states over the 660-nt N-padded input). Every key mapped or listed; settings "
        "the files do not hold are reported as assumed.",
        "example:\n  hf download bioscan-ml/BarcodeMamba --include 'BarcodeMamba-dim384-layer2-char/*' "
        "--local-dir bm-release\n  bioscan-hf convert-barcodemamba "
        "bm-release/BarcodeMamba-dim384-layer2-char/checkpoints/last.ckpt --out barcodemamba-384-char",
    ),
    "convert-clibd": Command(
        ConvertClibdOptions,
        run_convert_clibd,
        "Convert a published CLIBD checkpoint (Hub repo bioscan-ml/clibd, "
        "ckpt/bioscan_clip/<version>/<dataset>/<run>/best.pth: the original SimpleCLIP state dict) into a folder "
        "that AutoModel/AutoProcessor open: LoRA merged, every key mapped or listed, and a processor that "
        "reproduces the original inputs (256 → 224 px without normalisation, 5-mers of 660 nt, BERT-small text "
        "padded to 20). Image+DNA runs (no text tower) are supported; OpenCLIP/BioCLIP runs are refused with a "
        "message.",
        "example:\n  hf download bioscan-ml/clibd ckpt/bioscan_clip/ver_1_0/bioscan_5m/image_dna_text_4gpu/"
        "best.pth --local-dir clibd-release\n  bioscan-hf convert-clibd clibd-release/ckpt/bioscan_clip/ver_1_0/"
        "bioscan_5m/image_dna_text_4gpu/best.pth --out clibd-5m",
    ),
    "model-card": Command(
        ModelCardOptions, run_model_card, "Write README.md (model card) for a trained BarcodeBERT or CLIBD folder."
    ),
    "push-model": Command(
        (PushModelInputs, HubSettings), run_push_model, "Upload a model folder (weights, tokenizer, card) to the Hub."
    ),
    "models": Command(
        ModelsOptions,
        run_models,
        "List the encoder families `--model` accepts (bioscan_hf.embedding.ENCODER_FAMILIES), a line each: how to "
        "write the spec, what it embeds, what it is.",
    ),
}
