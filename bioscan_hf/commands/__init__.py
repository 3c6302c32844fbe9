"""The commands of `bioscan-hf` as a table, the way transformers and huggingface_hub keep theirs: each
command's name, the module that holds it and a one-line summary. A module holds its commands in
`COMMANDS` (name → `Command`: an options dataclass and a `run`); `bioscan_hf.cli` builds the parser from
this table and imports only the module of the command it runs, so `bioscan-hf --help` imports nothing
heavy. Adding a command: its `Command` in a module (a new one for a new group) and one line here."""

from __future__ import annotations

#: name → (module under bioscan_hf.commands, one-line summary), in the order `--help` lists them.
TABLE: dict[str, tuple[str, str]] = {
    "demo": ("demo", "the main job: sample → prepare → load_dataset → report"),
    "sample": ("data", "write the embedded synthetic release (exact release layout)"),
    "prepare": ("data", "turn a release into a Hub-ready Parquet dataset folder"),
    "push": ("data", "upload a prepared dataset folder to the Hugging Face Hub"),
    "download": ("data", "download release files (mirrors, resume, md5 check)"),
    "verify": ("data", "check release files against their published md5 digests (cached)"),
    "import-bold": ("data", "convert BOLD TSV exports (combined or BCDM) into the release layout"),
    "pretrain": ("training", "pre-train BarcodeBERT (masked k-mers) with Trainer"),
    "finetune": (
        "training",
        "fine-tune a DNA model (BarcodeBERT, BarcodeMamba, any transformers model) for species with Trainer",
    ),
    "train-cnn": ("training", "train the CNN baseline of Table 4 (one-hot barcodes) for species with Trainer"),
    "train-clibd": ("training", "align images, barcodes and taxonomy text (CLIBD) with Trainer"),
    "convert-barcodebert": ("models", "convert a published BarcodeBERT checkpoint to our classes"),
    "convert-barcodemae": ("models", "convert a BarcodeMAE checkpoint (its encoder) to a BarcodeBERT folder"),
    "convert-barcodemamba": ("models", "convert a published BarcodeMamba run (last.ckpt + config.yaml) to our classes"),
    "convert-clibd": ("models", "convert a published CLIBD checkpoint (best.pth) to a ClibdModel folder"),
    "model-card": ("models", "write README.md (model card) for a trained BarcodeBERT or CLIBD folder"),
    "push-model": ("models", "upload a model folder (weights, tokenizer, card) to the Hub"),
    "models": ("models", "list the encoder families --model accepts, a line each"),
    "embed": ("embed", "write embeddings of any encoder to Parquet (ids + vectors), once, for index/identify/evaluate"),
    "evaluate": ("evaluate", "score a model with the paper's protocols (DNA tasks, CLIBD retrieval)"),
    "tables": ("evaluate", "lay evaluation runs out as the paper's tables (Markdown + CSV), published numbers beside"),
    "index": ("search", "embed reference specimens and write FAISS indexes for the Space"),
    "identify": ("identify", "identify barcodes (or photos) against a reference library, per rank with confidence"),
    "calibrate": ("identify", "learn from a reference library how often identify's calls are right (per rank)"),
    "space-index": ("demo", "build the Space's default index from the synthetic sample (a small CLIBD)"),
    "push-space": ("search", "upload the retrieval Space (app and index) to the Hub"),
    "audit": ("audit", "find mislabelled, contaminated and damaged records of a reference library; BAGS grades"),
    "cluster": ("clusters", "group barcodes into BIN-like clusters (putative species), offline"),
}
