"""`bioscan-hf embed`: embeddings of any encoder, written once to Parquet for index, identify and evaluate."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.commands.common import Command, reporting
from bioscan_hf.core.options import option
from bioscan_hf.core.specs import SPEC_HELP
from bioscan_hf.embedding.settings import EmbedSettings


@dataclass(frozen=True, kw_only=True)
class EmbedInputs:
    """What is embedded, by which model, into which file; how is `EmbedSettings`."""

    source: str = option("prepared dataset folder, FASTA, TSV/CSV, BOLD TSV or folder of photos", positional=True)
    model: str = option(SPEC_HELP)
    out: str = option("the embeddings file to write (.parquet)")


COMMANDS: dict[str, Command] = {
    "embed": Command(
        (EmbedInputs, EmbedSettings),
        reporting("bioscan_hf.embedding.store:embed_to_parquet"),
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
