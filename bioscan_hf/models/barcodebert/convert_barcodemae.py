"""Convert a BarcodeMAE checkpoint (Safari, Millan Arias et al. 2025, arXiv 2502.18405) into a BarcodeBERT folder.

BarcodeMAE pre-trains a BERT encoder as a masked autoencoder: the encoder sees only the unmasked k-mers and a
second BERT decodes the masked ones. Only the encoder is used downstream, and it is a BERT over the
BarcodeBERT k-mer vocabulary, so it converts onto `BarcodeBertModel`. What the authors' code
(github.com/bioscan-ml/BarcodeMAE) writes and reads:

- `best_pretraining.pt`: a dict with the encoder's `BertModel` state under `model` (`embeddings.*`,
  `encoder.*`, `pooler.*`), its BERT config under `bert_config`, the training options (an
  `argparse.Namespace`: `arch="maelm"`, `tokenizer`, `k_mer`, `stride`, `max_len`, `tokenize_n_nucleotide`)
  under `config`, and optimiser state. A whole `MAELMModel` state (`encoder.*`, `decoder.*`,
  `projection_layer.*`) is accepted too: the encoder is kept, the rest listed as dropped.
- Inputs: non-overlapping k-mers (stride k) of the barcode padded with `N` to 660 nt, vocabulary `[MASK]`=0,
  `[UNK]`=1 then the 4**k k-mers (any k-mer with N is `[UNK]`): BarcodeBERT's "original" preset.
- Embedding (their `knn_probing.py`): the last hidden layer averaged over the real tokens (attention mask),
  which is `BarcodeBertModel.get_dna_embeddings` and the default pooling here.
"""

from __future__ import annotations

import argparse
import os

from ..checkpoints import ConversionError, load_torch_file, state_dict_of, strip_prefix
from .convert_barcodebert import config_from_weights, save_converted, vocabulary_of

#: The training options read from the checkpoint, with the values the paper's run used.
PAPER_OPTIONS = {"tokenizer": "kmer", "k_mer": 6, "stride": 6, "max_len": 660, "tokenize_n_nucleotide": False}


def training_options(payload: object) -> dict | None:
    """The training options stored in a BarcodeMAE checkpoint (its `config` Namespace), or None."""
    options = payload.get("config") if isinstance(payload, dict) else None
    if isinstance(options, argparse.Namespace):
        return vars(options)
    return options if isinstance(options, dict) and "arch" in options else None


def check_options(options: dict, source: str | os.PathLike) -> None:
    """Refuse runs whose inputs this conversion cannot reproduce, naming the option."""
    if options.get("arch", "maelm") != "maelm":
        raise ConversionError(
            f"{source}: arch={options['arch']!r}, not a BarcodeMAE run (arch 'maelm'); a BarcodeBERT checkpoint "
            "converts with `bioscan-hf convert-barcodebert`"
        )
    if options.get("tokenizer", "kmer") != "kmer":
        raise ConversionError(
            f"{source}: tokenizer={options['tokenizer']!r}; only k-mer runs convert (the BPE vocabularies live "
            "in the authors' repository, barcodebert/bpe_tokenizers, and are not reproduced here)"
        )
    if options.get("tokenize_n_nucleotide") or options.get("predict_n_nucleotide"):
        raise ConversionError(
            f"{source}: trained with tokenize_n_nucleotide (k-mers over ACGTN, a 5**k vocabulary); only the "
            "ACGT vocabulary with N → [UNK] converts"
        )
    k, stride = options.get("k_mer"), options.get("stride")
    if stride not in (None, k):
        raise ConversionError(f"{source}: stride {stride} ≠ k_mer {k}; only non-overlapping k-mers convert")


def encoder_state(state: dict, source: str | os.PathLike) -> tuple[dict, list[str]]:
    """(the encoder's BertModel state, dropped keys): the saved encoder as it is, or the `encoder.*` part
    of a whole MAELMModel (decoder, projection and the aliases of shared embeddings dropped)."""
    if not any(key.startswith(("decoder.", "projection_layer.")) for key in state):
        return state, []
    encoder = {key.removeprefix("encoder."): value for key, value in state.items() if key.startswith("encoder.")}
    dropped = sorted(key for key in state if not key.startswith("encoder."))
    if not encoder:
        raise ConversionError(f"{source}: a MAELMModel state without encoder.* weights")
    return encoder, dropped


def convert_barcodemae(source: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Convert a BarcodeMAE checkpoint into `out` (`BarcodeBertModel` + k-mer tokenizer); returns a report
    as `convert_barcodebert` does, with `options` saying where the input settings came from."""
    payload = load_torch_file(source)
    options = training_options(payload)
    if options is not None:
        check_options(options, source)
    state, dropped = encoder_state(strip_prefix(state_dict_of(payload, source), "module."), source)
    bert_config = payload.get("bert_config") if isinstance(payload, dict) else None
    if not isinstance(bert_config, dict):
        bert_config = config_from_weights(state, source)
    k, _ = vocabulary_of(int(bert_config["vocab_size"]))
    if options is not None and options.get("k_mer") not in (None, k):
        raise ConversionError(f"{source}: k_mer={options['k_mer']} but the vocabulary is that of k={k}")
    layers, heads = bert_config.get("num_hidden_layers", "?"), bert_config.get("num_attention_heads", "?")
    dataset = (options or {}).get("dataset_name") or "BIOSCAN-5M"
    report = save_converted(
        state,
        bert_config,
        out,
        legacy_attend_to_padding=False,
        release=f"BarcodeMAE {k}-{layers}-{heads} (the masked autoencoder's encoder; pre-trained on {dataset})",
    )
    report["dropped_keys"] = dropped + report["dropped_keys"]
    report["options"] = (
        "read from the checkpoint"
        if options is not None
        else "not in the checkpoint: assumed those of the paper's run " + str(PAPER_OPTIONS)
    )
    return report
