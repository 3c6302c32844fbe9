"""`bioscan-hf embed`: embeddings of any encoder, written once to Parquet for index, identify and evaluate."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.commands.common import Command
from bioscan_hf.core.options import option
from bioscan_hf.core.specs import SPEC_HELP
from bioscan_hf.embedding.settings import EncoderSettings
from bioscan_hf.embedding.store import embed_to_parquet


@dataclass(frozen=True, kw_only=True)
class EmbedOptions(EncoderSettings):
    source: str = option("prepared dataset folder, FASTA, TSV/CSV, BOLD TSV or folder of photos", positional=True)
    model: str = option(SPEC_HELP)
    out: str = option("the embeddings file to write (.parquet)")
    split: str = option("split(s) of a prepared dataset, e.g. train,key_unseen (default test)", "test")
    config: str | None = option("dataset config (default: metadata for barcodes, cropped_256 for photos)", None)
    modality: str | None = option(
        "what to embed from a dataset (default: barcodes when the model has a DNA tower, else photos)",
        None,
        choices=("dna", "image", "both"),
    )
    skip_bad: bool = option(
        "leave unusable records and undecodable photos out and list them in OUT's .skipped.tsv", False
    )
    overwrite: bool = option("replace OUT even if it is not an embeddings file bioscan-hf wrote", False)


def run(o: EmbedOptions) -> None:
    result = embed_to_parquet(
        o.source,
        o.model,
        o.out,
        split=o.split,
        config=o.config,
        modality=o.modality,
        skip_bad=o.skip_bad,
        encoder_options=o.encoder_options(),
        overwrite=o.overwrite,
    )
    if result.main_process:
        print(result.report())


COMMANDS: dict[str, Command] = {
    "embed": Command(
        EmbedOptions,
        run,
        "Embed the records of a prepared dataset split, a FASTA, a TSV/CSV (id + sequence), a BOLD TSV or a folder "
        "of photos with any encoder and write OUT (.parquet): one row per record and modality with columns id, "
        "modality (dna/image) and embedding (float32, as the model outputs it); the model, its fingerprint and the "
        "source are in the file's metadata. Pass the file to `index`, `identify` or `evaluate` with --embeddings "
        "to skip embedding those records again. Under `accelerate launch` the processes share the records; the "
        "file equals one process's.",
        "examples:\n  bioscan-hf embed bioscan-5m --split train --model bb/final --out train.parquet\n"
        "  accelerate launch --multi_gpu --num_processes 2 $(which bioscan-hf) embed bioscan-5m --split test "
        "--model clibd/final --modality both --out test.parquet",
    ),
}
