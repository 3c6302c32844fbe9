"""`bioscan-hf`: every capability of the toolkit from the command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from bioscan_hf.presets import DEMO_STEPS

EPILOG = """examples:
  bioscan-hf demo                                   # sample → prepare → load_dataset → report
  bioscan-hf sample --out release --scale medium    # a synthetic release in the real layout
  bioscan-hf prepare --release ~/bioscan5m --out bioscan-5m --configs metadata,cropped_256
  bioscan-hf import-bold my_project.tsv --out my_release
  bioscan-hf push bioscan-5m --repo-id me/bioscan-5m
  bioscan-hf pretrain --dataset bioscan-5m --out bb-pretrain          # BarcodeBERT 8-4-4
  accelerate launch --multi_gpu --num_processes 4 $(which bioscan-hf) pretrain --dataset bioscan-5m --out bb
  bioscan-hf finetune --dataset bioscan-5m --model bb-pretrain/final --out bb-species
  bioscan-hf train-clibd --dataset bioscan-5m --dna-model bb-pretrain/final --out clibd
  bioscan-hf evaluate retrieval --dataset bioscan-5m --model clibd/final --out clibd-eval
  bioscan-hf evaluate all --dataset bioscan-5m --model hf:path/to/DNABERT-2 --trust-remote-code --out dnabert2
  bioscan-hf evaluate cluster --dataset bioscan-5m --model timm:vit_base_patch16_224:vit.safetensors \\
      --concat-model bb-pretrain/final --out vit+bb
  bioscan-hf tables bb-eval dnabert2 vit+bb clibd-eval --out tables
"""


DATASET_HELP = "folder written by `bioscan-hf prepare` (metadata config)"


def _scale(value: str) -> str | int:
    return value if value in ("small", "medium") else int(value)


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="write the embedded synthetic release (exact release layout)",
        description="Generate a deterministic, synthetic BIOSCAN-5M release: the metadata zip and "
        "zips for all four image packages. Synthetic data, for trying the toolkit.",
    )
    p.add_argument("--out", required=True, help="folder to write the release into")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed → same files)")
    p.add_argument("--scale", type=_scale, default="small", help="small (2,000 records), medium (20,000) or a number")
    p.add_argument("--no-images", action="store_true", help="write the metadata only")

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.data.sample import write_sample_release

        path = write_sample_release(args.out, scale=args.scale, seed=args.seed, images=not args.no_images)
        print(f"synthetic release written to {path}")

    p.set_defaults(func=run)


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="turn a release into a Hub-ready Parquet dataset folder",
        description="Build Parquet shards per config and split, plus a README.md dataset card, so "
        "that datasets.load_dataset(OUT, CONFIG, split=...) works offline. Finished configs are "
        "reused when re-run; an interrupted config restarts.",
    )
    p.add_argument("--release", required=True, help="release folder: zips as downloaded, extracted, or a mix")
    p.add_argument("--out", required=True, help="output folder (the future Hub repo)")
    p.add_argument("--configs", help="comma-separated configs (default: every config whose files are present)")
    p.add_argument("--num-proc", type=int, default=None, help="parallel worker processes")
    p.add_argument("--max-shard-size", default="500MB", help="Parquet shard size bound (default 500MB)")
    p.add_argument(
        "--on-missing-image",
        choices=("error", "skip"),
        default="error",
        help="a missing/corrupt image stops the run (error) or is skipped and reported (skip)",
    )
    p.add_argument("--overwrite", action="store_true", help="rebuild configs that are already finished")
    p.add_argument("--repo-id", default="bioscan-5m", help="repo id used in the card's usage example")

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.data.publish import prepare

        configs = args.configs.split(",") if args.configs else None
        summary = prepare(
            args.release,
            args.out,
            configs=configs,
            num_proc=args.num_proc,
            max_shard_size=args.max_shard_size,
            on_missing_image=args.on_missing_image,
            overwrite=args.overwrite,
            repo_id=args.repo_id,
        )
        for name, why in summary["skipped"].items():
            print(f"skipped {name}: {why}")
        for name, why in summary["rebuilt"].items():
            print(f"rebuilt {name}: {why}")
        for name, missing in summary["skipped_images"].items():
            print(f"{name}: {len(missing)} record(s) skipped for missing/corrupt images, e.g.")
            for line in missing[:5]:
                print(f"  {line}")
            print(f"  (all listed in {args.out}/data/{name}/_complete.json and in the dataset card)")
        for warning in summary["warnings"]:
            print(f"WARNING: {warning}", file=sys.stderr)
        print(f"built: {', '.join(summary['built']) or '-'}; reused: {', '.join(summary['reused']) or '-'}")
        print(f"load it with: datasets.load_dataset({args.out!r}, 'CONFIG', split='test')")

    p.set_defaults(func=run)


def _add_push(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="upload a prepared dataset folder to the Hugging Face Hub")
    p.add_argument("folder", help="folder written by `bioscan-hf prepare`")
    p.add_argument("--repo-id", required=True, help="Hub dataset repo, e.g. me/bioscan-5m")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.data.publish import push

        print(f"uploaded to {push(args.folder, args.repo_id, token=args.token, private=args.private)}")

    p.set_defaults(func=run)


def _add_download(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download release files (mirrors, resume, md5 check)")
    p.add_argument("--out", required=True, help="folder to download into")
    p.add_argument("--packages", default="", help="comma-separated 256 px image packages: cropped_256,original_256")
    p.add_argument("--file", action="append", default=[], help="a release file name to fetch (repeatable)")
    p.add_argument(
        "--mirror",
        action="append",
        default=[],
        help="URL template with {name}, tried in order (default: Zenodo record 11973457)",
    )

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.data.download import DEFAULT_MIRRORS, download_file, release_file_names

        packages = [p for p in args.packages.split(",") if p]
        names = args.file or release_file_names(packages)
        for name in names:
            print(f"have {download_file(name, args.out, mirrors=args.mirror or DEFAULT_MIRRORS)}")

    p.set_defaults(func=run)


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check release files against their published md5 digests (cached)")
    p.add_argument("files", nargs="+", help="release files to check (e.g. BIOSCAN_5M_cropped_256.zip)")
    p.add_argument("--md5", default=None, help="expected digest (default: the published one for the file name)")

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.data.checksums import verify_md5

        for path in args.files:
            print(f"{path}: ok ({verify_md5(path, args.md5)})")

    p.set_defaults(func=run)


def _add_import_bold(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-bold",
        help="convert BOLD combined TSV exports into the release layout",
        description="Read BOLD exports (.tsv or .tsv.gz), keep every COI-5P row with a barcode, "
        "resolve conflicting annotations of one barcode, apply BIOSCAN-5M's partition rules and write a "
        "metadata zip. Unusable rows (skipped) and changed rows are listed with their file and line in "
        "OUT/import_report.tsv.",
    )
    p.add_argument("tsv", nargs="+", help="BOLD combined TSV export(s)")
    p.add_argument("--out", required=True, help="folder for the metadata zip and import_report.tsv")
    p.add_argument(
        "--undescribed-fraction",
        type=float,
        default=0.2,
        help="share of species given placeholder names, so unseen/heldout splits exist (default 0.2)",
    )
    p.add_argument(
        "--unlabelled-fraction",
        type=float,
        default=0.0,
        help="share of records whose species label is removed (they go to pretrain)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the partition (same seed → same splits)")
    p.add_argument(
        "--keep-conflicts",
        action="store_true",
        help="keep conflicting annotations of one barcode as exported (default: the paper's rule — per rank, "
        "the majority value if ≥ 90%% of the barcode's records agree, else the annotation is cut there; "
        "every change is listed in import_report.tsv)",
    )

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.data.bold import import_bold

        report = import_bold(
            args.tsv,
            args.out,
            args.undescribed_fraction,
            args.unlabelled_fraction,
            args.seed,
            resolve_conflicts=not args.keep_conflicts,
        )
        print(report.summary())

    p.set_defaults(func=run)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: sample → prepare → load_dataset → report",
        description="Run the toolkit end to end on the embedded synthetic sample (default), on "
        "a release folder (--release) or on real BOLD exports (--bold), and write a report.",
    )
    p.add_argument("--out", default="demo_out", help="folder for everything the demo writes (default: demo_out)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--release", help="a BIOSCAN-5M release folder")
    source.add_argument("--bold", nargs="+", help="BOLD combined TSV export(s)")
    p.add_argument("--scale", type=_scale, default="small", help="sample size: small (2,000), medium (20,000) or N")
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic sample")
    p.add_argument("--num-proc", type=int, default=None, help="processes for preparing the dataset")
    p.add_argument(
        "--pretrain-steps",
        type=int,
        default=None,
        help=f"steps of BarcodeBERT pre-training for the embedding check (0: dataset report only; default "
        f"{DEMO_STEPS['quick'][0]}, {DEMO_STEPS['full'][0]} with --full)",
    )
    p.add_argument(
        "--clibd-steps",
        type=int,
        default=None,
        help=f"steps of CLIBD image–DNA alignment on the sample's images (0: skip; needs --pretrain-steps; "
        f"default {DEMO_STEPS['quick'][1]}, {DEMO_STEPS['full'][1]} with --full)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="train the demo's models longer (better figures; about 3× the time of the default run)",
    )

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.demo import run_demo

        mode = "full" if args.full else "quick"

        run_demo(
            args.out,
            release=args.release,
            bold=args.bold or (),
            scale=args.scale,
            seed=args.seed,
            num_proc=args.num_proc,
            pretrain_steps=DEMO_STEPS[mode][0] if args.pretrain_steps is None else args.pretrain_steps,
            clibd_steps=DEMO_STEPS[mode][1] if args.clibd_steps is None else args.clibd_steps,
        )

    p.set_defaults(func=run)


#: The training commands: a one-line summary and a description. Each is parsed by its own HfArgumentParser
#: (bioscan_hf/training/arguments.py: the command's options, then every TrainingArguments field).
TRAINING_COMMANDS: dict[str, tuple[str, str]] = {
    "pretrain": (
        "pre-train BarcodeBERT (masked k-mers) with Trainer",
        "Pre-train BarcodeBERT on the unique barcodes of pretrain + other_heldout (trailing N stripped). "
        "Defaults follow the published 8-4-4 recipe: k=8, 4 layers, 4 heads, hidden 768, 50% of tokens masked "
        "to [MASK], AdamW + OneCycle, batch 128, lr 2e-4, 35 epochs. Runs under `accelerate launch` for several "
        "processes; resumes from OUT's last checkpoint.",
    ),
    "finetune": (
        "fine-tune a DNA model (BarcodeBERT, any transformers model) for species with Trainer",
        "Fine-tune a DNA model to classify species on train — a BarcodeBERT folder, or hf:PATH_OR_ID of any "
        "transformers model with a sequence-classification head (DNABERT-2, Nucleotide Transformer …) — and "
        "report micro and macro accuracy on val and test (OUT/final/metrics.json, read by `bioscan-hf tables`). "
        "Runs under `accelerate launch` too.",
    ),
    "train-cnn": (
        "train the CNN baseline of Table 4 (one-hot barcodes) for species with Trainer",
        "Train the CNN baseline (BarcodeBERT's paper; BIOSCAN-5M Table 4): barcodes one-hot over A C G T N, cut "
        "or padded to 660 bases, three convolution blocks, a 500-d embedding, a species classifier; SGD "
        "(momentum 0.9) with the rate halved every 3 epochs. Reports val and test accuracy; its 500-d features "
        "serve `bioscan-hf evaluate knn --model OUT/final`.",
    ),
    "train-clibd": (
        "align images, barcodes and taxonomy text (CLIBD) with Trainer",
        "Contrastive training of CLIBD on the paired images, barcodes and taxonomy of pretrain + train in an "
        "image config of a prepared dataset. Towers start from local checkpoints when given (timm weights file, "
        "BarcodeBERT folder, BERT folder). LoRA (rank 4 on query/value; the ViT's fused qkv) or full "
        "fine-tuning; bf16 on GPUs that have it. Runs under `accelerate launch` (features gathered across "
        "processes). OUT/initial = the towers before alignment (the no-alignment baseline), OUT/final = the "
        "trained model (LoRA merged), OUT/adapter = the LoRA adapter. Undecodable images are listed in "
        "OUT/undecodable_images.tsv.",
    ),
}


def _add_training_commands(sub: argparse._SubParsersAction) -> None:
    """List the training commands; `main` hands their arguments to their own parsers."""
    for name, (summary, description) in TRAINING_COMMANDS.items():
        sub.add_parser(name, help=summary, description=description)


def _run_training(name: str, argv: Sequence[str]) -> None:
    """Parse a training command's arguments with its HfArgumentParser and run it."""
    from bioscan_hf.training import arguments

    description = TRAINING_COMMANDS[name][1]
    if name == "pretrain":
        from bioscan_hf.training.barcodebert import ModelShape, pretrain_barcodebert

        run = arguments.parse_training_command(arguments.PretrainArguments, argv, f"bioscan-hf {name}", description, {})
        o = run.options
        shape = ModelShape(k=o.k, hidden_size=o.hidden_size, num_hidden_layers=o.layers, num_attention_heads=o.heads)
        result = pretrain_barcodebert(
            o.dataset,
            run.output_dir,
            shape=shape,
            scheme=o.masking,
            seed=run.seed,
            resume=not o.no_resume,
            **run.overrides,
        )
        if result.resumed_from:
            print(f"resumed from {result.resumed_from}")
        print(f"model saved to {result.model_dir}")
    elif name == "finetune":
        from bioscan_hf.training.species import FINETUNE_RECIPE, finetune_species

        run = arguments.parse_training_command(
            arguments.FinetuneArguments, argv, f"bioscan-hf {name}", description, FINETUNE_RECIPE
        )
        o = run.options
        result = finetune_species(
            o.dataset,
            o.model,
            run.output_dir,
            seed=run.seed,
            resume=not o.no_resume,
            trust_remote_code=o.trust_remote_code,
            **run.overrides,
        )
        _print_species_scores(result)
    elif name == "train-cnn":
        from bioscan_hf.training.species import CNN_RECIPE, train_cnn

        run = arguments.parse_training_command(
            arguments.TrainCnnArguments, argv, f"bioscan-hf {name}", description, CNN_RECIPE
        )
        result = train_cnn(
            run.options.dataset, run.output_dir, seed=run.seed, resume=not run.options.no_resume, **run.overrides
        )
        _print_species_scores(result)
    else:
        from bioscan_hf.core.paths import runnable
        from bioscan_hf.training.clibd import CLIBD_RECIPE, train_clibd

        run = arguments.parse_training_command(
            arguments.TrainClibdArguments, argv, f"bioscan-hf {name}", description, CLIBD_RECIPE
        )
        o = run.options
        result = train_clibd(
            o.dataset,
            run.output_dir,
            config=o.config,
            preset=o.preset,
            image_checkpoint=o.image_checkpoint,
            dna_model=o.dna_model,
            text_model=o.text_model,
            finetune=o.finetune,
            lora_rank=o.lora_rank,
            use_text=not o.no_text,
            seed=run.seed,
            resume=not o.no_resume,
            **run.overrides,
        )
        if result.resumed_from:
            print(f"resumed from {result.resumed_from}")
        print(f"model saved to {result.model_dir}; score it with:")
        print(
            f"  {runnable('bioscan-hf')} evaluate retrieval --dataset {o.dataset} --model {result.model_dir} "
            "--out retrieval"
        )


def _print_species_scores(result) -> None:
    for split in ("val", "test"):
        if f"{split}_accuracy" in result.metrics:
            print(
                f"{split}: accuracy {result.metrics[f'{split}_accuracy']:.4f}, "
                f"macro accuracy {result.metrics[f'{split}_macro_accuracy']:.4f}"
            )
    print(f"model saved to {result.model_dir}")


def _add_convert_barcodebert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-barcodebert",
        help="convert a published BarcodeBERT checkpoint to our classes",
        description="Convert the Hub repo layout (BERT weights + config.json) or a training .pth "
        "file into a BarcodeBERT folder with the original k-mer vocabulary. Recognised: the first release "
        "(k=4/5/6 12-12 .pth files without config, and the k=5 model inside CLIBD), the current releases "
        "(e.g. BIOSCAN-5M's 8-4-4, CANADA-1.5M 4-4-4); the release, vocabulary and pooling are recorded in "
        "the config.",
    )
    p.add_argument("source", help="Hub-layout folder or .pth/.pt file")
    p.add_argument("--out", required=True, help="folder for the converted model and tokenizer")
    p.add_argument("--config", help="BERT config.json, when the .pth file does not carry one")
    p.add_argument(
        "--legacy-attend-to-padding",
        action="store_true",
        default=None,
        help="reproduce the original code's embeddings (padding attended to and averaged); the default for the "
        "first release (its vocabulary of 4**k + 3 tokens)",
    )

    def run(args: argparse.Namespace) -> None:
        import json

        from bioscan_hf.models.barcodebert.convert_barcodebert import convert_barcodebert

        config = json.loads(open(args.config).read()) if args.config else None
        report = convert_barcodebert(args.source, args.out, config, args.legacy_attend_to_padding)
        print(f"{report['release']}: {report['target']} with {report['converted_keys']} tensors saved to {args.out}")
        print(f"vocabulary {report['vocab_preset']!r} (k={report['k']}); pooling: {report['pooling']}")
        if report["dropped_keys"]:
            print(f"not carried over: {', '.join(report['dropped_keys'])}")

    p.set_defaults(func=run)


def _add_convert_clibd(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-clibd",
        help="convert a published CLIBD checkpoint (best.pth) to a ClibdModel folder",
        description="Convert a published CLIBD checkpoint (Hub repo bioscan-ml/clibd, "
        "ckpt/bioscan_clip/<version>/<dataset>/<run>/best.pth: the original SimpleCLIP state dict) into a "
        "folder that AutoModel/AutoProcessor open: LoRA merged, every key mapped or listed, and a processor "
        "that reproduces the original inputs (256 → 224 px without normalisation, 5-mers of 660 nt, "
        "BERT-small text padded to 20). Image+DNA runs (no text tower) are supported; OpenCLIP/BioCLIP runs "
        "are refused with a message.",
        epilog="example:\n  hf download bioscan-ml/clibd ckpt/bioscan_clip/ver_1_0/bioscan_5m/image_dna_text_4gpu/"
        "best.pth --local-dir clibd-release\n  bioscan-hf convert-clibd clibd-release/ckpt/bioscan_clip/ver_1_0/"
        "bioscan_5m/image_dna_text_4gpu/best.pth --out clibd-5m",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="the release's best.pth (a SimpleCLIP state dict)")
    p.add_argument("--out", required=True, help="folder for the converted model and processor")
    p.add_argument(
        "--text-tokenizer",
        help="BERT-small's tokenizer: a local folder or Hub id (default prajjwal1/bert-small, downloaded)",
    )
    for tower in ("image", "dna", "text"):
        p.add_argument(f"--{tower}-heads", type=int, help=f"attention heads of the {tower} tower (default hidden / 64)")

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.models.clibd.convert_clibd import convert_clibd

        heads = {t: getattr(args, f"{t}_heads") for t in ("image", "dna", "text") if getattr(args, f"{t}_heads")}
        report = convert_clibd(args.checkpoint, args.out, text_tokenizer=args.text_tokenizer, heads=heads)
        towers = " + ".join(report["towers"])
        print(f"{report['release']}: CLIBD ({towers}) with {report['converted_keys']} tensors saved to {args.out}")
        print(f"LoRA merged into the {' + '.join(report['lora_merged']) or 'no'} tower(s)")
        if report["dropped_keys"]:
            print("not carried over:\n  " + "\n  ".join(report["dropped_keys"]))

    p.set_defaults(func=run)


def _add_model_card(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model-card", help="write README.md (model card) for a trained BarcodeBERT or CLIBD folder")
    p.add_argument("model", help="model folder (a BarcodeBERT's metrics.json, if any, fills the results)")
    p.add_argument("--repo-id", required=True, help="the Hub id the card refers to")
    p.add_argument("--data-note", default="", help="what the model was trained on (say if data is synthetic)")
    p.add_argument("--retrieval", help="CLIBD: the output folder of `evaluate retrieval` for the results table")

    def run(args: argparse.Namespace) -> None:
        import json
        from pathlib import Path

        config = Path(args.model) / "config.json"
        if not config.is_file():
            raise FileNotFoundError(f"{args.model} has no config.json: not a saved model folder")
        if json.loads(config.read_text()).get("model_type") == "clibd":
            from bioscan_hf.cards import write_clibd_card

            path = write_clibd_card(args.model, args.repo_id, args.data_note, args.retrieval)
        else:
            from bioscan_hf.cards import write_barcodebert_card

            path = write_barcodebert_card(args.model, args.repo_id, args.data_note)
        print(f"card written to {path}")

    p.set_defaults(func=run)


def _add_push_model(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push-model", help="upload a model folder (weights, tokenizer, card) to the Hub")
    p.add_argument("model", help="model folder (e.g. OUT/final; run `model-card` first for its card)")
    p.add_argument("--repo-id", required=True, help="Hub model repo, e.g. me/barcodebert")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.hub import upload_folder

        url = upload_folder(
            args.model,
            args.repo_id,
            "model",
            token=args.token,
            private=args.private,
            ignore_patterns=["checkpoint-*/**"],
            message="Upload a model with bioscan-hf",
        )
        print(f"uploaded to {url}")

    p.set_defaults(func=run)


MODEL_SPEC_HELP = (
    "the encoder: a BarcodeBERT or CLIBD folder, hf:PATH_OR_ID (any transformers DNA or vision model), "
    "timm:NAME[:WEIGHTS_FILE], kmerK (e.g. kmer6)"
)
EMBEDDINGS_HELP = (
    "a Parquet file of `bioscan-hf embed` by the same --model (checked): the records it holds are read "
    "instead of embedded again; the others are embedded"
)


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="write embeddings of any encoder to Parquet (ids + vectors), once, for index/identify/evaluate",
        description="Embed the records of a prepared dataset split, a FASTA, a TSV/CSV (id + sequence), a "
        "BOLD TSV or a folder of photos with any encoder and write OUT (.parquet): one row per record and "
        "modality with columns id, modality (dna/image) and embedding (float32, as the model outputs it); the "
        "model, its fingerprint and the source are in the file's metadata. Pass the file to `index`, "
        "`identify` or `evaluate` with --embeddings to skip embedding those records again. Under "
        "`accelerate launch` the processes share the records; the file equals one process's.",
        epilog="examples:\n  bioscan-hf embed bioscan-5m --split train --model bb/final --out train.parquet\n"
        "  accelerate launch --multi_gpu --num_processes 2 $(which bioscan-hf) embed bioscan-5m --split test "
        "--model clibd/final --modality both --out test.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="prepared dataset folder, FASTA, TSV/CSV, BOLD TSV or folder of photos")
    p.add_argument("--model", required=True, help=MODEL_SPEC_HELP)
    _add_encoder_options(p)
    p.add_argument("--out", required=True, help="the embeddings file to write (.parquet)")
    p.add_argument(
        "--split", default="test", help="split(s) of a prepared dataset, e.g. train,key_unseen (default test)"
    )
    p.add_argument("--config", help="dataset config (default: metadata for barcodes, cropped_256 for photos)")
    p.add_argument(
        "--modality",
        choices=("dna", "image", "both"),
        help="what to embed from a dataset (default: barcodes when the model has a DNA tower, else photos)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave unusable records and undecodable photos out and list them in OUT's .skipped.tsv",
    )

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.embedding.store import embed_to_parquet

        result = embed_to_parquet(
            args.source,
            args.model,
            args.out,
            split=args.split,
            config=args.config,
            modality=args.modality,
            skip_bad=args.skip_bad,
            encoder_options=_encoder_options(args),
        )
        if result.main_process:
            print(result.report())

    p.set_defaults(func=run)


def _add_encoder_options(p: argparse.ArgumentParser) -> None:
    """How --model embeds: pooling, remote code, device and dtype (bioscan_hf.embedding)."""
    p.add_argument(
        "--pooling",
        choices=("mean", "cls", "avg"),
        help="DNA models: mean over real tokens (default) or cls; image models: cls (default) or avg of patches",
    )
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let an hf: model run the code in its folder (DNABERT-2, HyenaDNA…); only for models you trust",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1… (default: cuda when available)")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), help="weights' dtype (default: as saved)")


def _encoder_options(args: argparse.Namespace) -> dict:
    options = {
        "pooling": args.pooling,
        "trust_remote_code": args.trust_remote_code or None,
        "device": args.device,
        "dtype": args.dtype,
    }
    return {k: v for k, v in options.items() if v is not None}


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a model with the paper's protocols (DNA tasks, CLIBD retrieval)",
        description="Score any encoder (a BarcodeBERT folder, hf:PATH_OR_ID, kmer6 …) or alignment (align) on a "
        "prepared dataset: knn (1-NN genus etc.: keys train, queries test_unseen), linear (linear "
        "probe, species, train → test), cluster (UMAP 50 → Ward → AMI per rank on test + "
        "test_unseen), baselines (1-NN genus of kmer6 and alignment; closed-world alignment species, "
        "test → train), all. Or score a CLIBD folder: "
        "retrieval (keys train + key_unseen, queries test / test_unseen; top-1/3/5 micro and macro "
        "at order..species for DNA→DNA, image→image, image→DNA and image+DNA; seen, unseen, harmonic "
        "mean; beside the no-alignment baseline). Writes OUT/metrics.json, a markdown report and plots.",
    )
    p.add_argument(
        "task",
        choices=("knn", "linear", "cluster", "baselines", "all", "retrieval"),
        help="which protocol (see above); `all`: knn, linear, cluster and baselines",
    )
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument(
        "--model", default="kmer6", help=f"{MODEL_SPEC_HELP}, or align (knn only); retrieval: a CLIBD folder"
    )
    p.add_argument(
        "--concat-model",
        action="append",
        default=[],
        help="cluster on MODEL's embeddings z-scored and concatenated with this model's (repeatable; e.g. an "
        "image model with a DNA model, Table A16)",
    )
    _add_encoder_options(p)
    p.add_argument("--out", required=True, help="folder for metrics.json, the tables and the plots")
    p.add_argument("--seed", type=int, default=0, help="random seed (UMAP, probes)")
    p.add_argument(
        "--config",
        default="cropped_256",
        help="the image config for retrieval and for clustering images (default cropped_256)",
    )
    p.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="knn/linear/baselines: score on test / test_unseen, or on val / val_unseen for model selection",
    )
    p.add_argument(
        "--probe",
        choices=("lbfgs", "sgd"),
        default="lbfgs",
        help="linear probe solver: lbfgs (converged logistic regression, fits the paper's scale in memory) or "
        "sgd (the paper's recipe: SGD lr 0.01, momentum 0.9, weight decay 1e-5)",
    )
    p.add_argument(
        "--one-sample-per-barcode",
        action="store_true",
        help="keep one record per distinct barcode in every split (the paper's Fig. A11 protocol)",
    )
    p.add_argument(
        "--modality",
        choices=("dna", "image"),
        help="cluster: what MODEL embeds (default: barcodes when it has a DNA tower, else images)",
    )
    p.add_argument("--queries", choices=("test", "val"), default="test", help="retrieval: test or val queries")
    p.add_argument(
        "--baseline", help="retrieval: the no-alignment CLIBD folder (default: MODEL/../initial when it exists)"
    )
    p.add_argument("--no-baseline", action="store_true", help="retrieval: score MODEL only")
    p.add_argument("--embeddings", help=EMBEDDINGS_HELP)

    def run(args: argparse.Namespace) -> None:
        if args.task == "retrieval":
            _run_retrieval(args)
            return
        from bioscan_hf.evaluation.dna import TASKS, evaluate_dna

        tasks = {"all": TASKS, "baselines": ()}.get(args.task, (args.task,))
        metrics = evaluate_dna(
            args.dataset,
            args.model,
            args.out,
            tasks=tasks,
            seed=args.seed,
            baselines=args.task in ("baselines", "all"),
            cluster_also=args.concat_model,
            encoder_options=_encoder_options(args),
            image_config=args.config,
            modality=args.modality,
            split=args.split,
            one_sample_per_barcode=args.one_sample_per_barcode,
            probe=args.probe,
            embeddings=args.embeddings,
        )
        for name, value in metrics.items():
            print(f"{name:45s} {value:.4f}" if isinstance(value, float) else f"{name:45s} {value}")
        print(f"written to {args.out}/metrics.json")

    p.set_defaults(func=run)


def _run_retrieval(args: argparse.Namespace) -> None:
    from bioscan_hf.evaluation.retrieval import default_baseline, evaluate_retrieval

    baseline = None if args.no_baseline else args.baseline or default_baseline(args.model)
    metrics = evaluate_retrieval(
        args.dataset,
        args.model,
        args.out,
        baseline,
        config=args.config,
        queries=args.queries,
        embeddings=args.embeddings,
    )
    for name, value in metrics.items():
        if "_top1_" in name and name.endswith("_hm"):
            print(f"{name:50s} {value:.4f}")
    print(f"written to {args.out}/metrics.json, retrieval.md and retrieval.png")


def _add_tables(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tables",
        help="lay evaluation runs out as the paper's tables (Markdown + CSV), published numbers beside",
        description="Read the metrics.json and run.json of evaluation runs (the --out folders of `bioscan-hf "
        "evaluate`, a finetune's OUT/final) and write the paper's layouts into OUT: Table 4 (fine-tuned / "
        "linear probe / 1-NN genus per encoder), the Table A15 grid (runs scored with --split val, by k and "
        "layers-heads), Fig. 6 / Table A16 (AMI per rank per encoder, the image × DNA concatenation grid, "
        "ami_by_rank.png) and Table 5 (CLIBD retrieval runs side by side), each as .md and .csv, plus "
        "OUT/tables.md with all of them.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="evaluation output folders (metrics.json inside)")
    p.add_argument("--out", required=True, help="folder for the tables")
    p.add_argument("--average", choices=("macro", "micro"), default="macro", help="Table 5's averaging")

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.evaluation.tables import write_tables

        path = write_tables(args.runs, args.out, average=args.average)
        print(path.read_text())
        print(f"written to {path} (and one .md + .csv per table beside it)")

    p.set_defaults(func=run)


def _parse_thresholds(text: str) -> dict[str, float]:
    """`species=0.97,genus=0.94` → {"species": 0.97, "genus": 0.94} (percentages accepted)."""
    from bioscan_hf.data.sources import CALL_RANKS

    thresholds = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        rank, _, value = item.partition("=")
        if rank not in CALL_RANKS or not value:
            raise argparse.ArgumentTypeError(f"{item!r}: expected RANK=IDENTITY with RANK in {', '.join(CALL_RANKS)}")
        number = float(value)
        thresholds[rank] = number / 100 if number > 1 else number
    return thresholds


def _add_identify(sub: argparse._SubParsersAction) -> None:
    from bioscan_hf.search.engine import DEFAULT_CANDIDATES, DEFAULT_THRESHOLDS

    defaults = ", ".join(f"{rank} {value:.0%}" for rank, value in DEFAULT_THRESHOLDS.items())
    p = sub.add_parser(
        "identify",
        help="identify barcodes (or photos) against a reference library, per rank with confidence",
        description="Identify each query against a reference library and write one row per query: a call per "
        "rank (order, family, subfamily, genus, species, BIN) with a confidence and the number of reference "
        "records supporting it, the best hit (processid, % identity) and a note where a rank is not called "
        "('no match at species: likely undescribed'). DNA: the references sharing the most codon-aware "
        "spaced seeds are aligned exactly (edlib); a rank is called only when the best identity reaches its "
        f"threshold ({defaults}; BOLD ID engine style) and the hits within 1% of the best vote. "
        "QUERIES: FASTA, TSV/CSV (id + sequence columns), a BOLD TSV, a prepared dataset (with --split) or "
        "a folder of photos (--model CLIBD_FOLDER: matched to reference barcodes; --photo-keys: to the photos of "
        "an index folder). REFERENCE: a prepared dataset (--reference-splits), "
        "an index folder, a BOLD TSV, or a FASTA with SINTAX (tax=o:…,g:…,s:…) or BOLD (id|taxon|marker|BIN) "
        "headers. Runs in chunks; a stopped run resumes from its finished chunks when run again.",
        epilog="example: bioscan-hf identify plate.fasta --reference bioscan-5m --out plate.tsv --top-k 5",
    )
    p.add_argument("queries", help="FASTA, TSV/CSV, BOLD TSV, prepared dataset folder, or folder of photos")
    p.add_argument("--reference", required=True, help="prepared dataset, index folder, BOLD TSV or taxonomy FASTA")
    p.add_argument("--out", required=True, help="results file: .tsv, .csv, .json or .parquet")
    p.add_argument("--split", default="test", help="query split when QUERIES is a prepared dataset (default test)")
    p.add_argument(
        "--reference-splits",
        default="train,key_unseen",
        help="reference splits when REFERENCE is a prepared dataset (default train,key_unseen)",
    )
    p.add_argument("--top-k", type=int, default=0, help="also write the best K hits per query to OUT's .hits file")
    p.add_argument(
        "--model", help=f"shortlist by an encoder's neighbours instead of seeds; photos need CLIBD. {MODEL_SPEC_HELP}"
    )
    p.add_argument("--embeddings", help=f"with --model: {EMBEDDINGS_HELP} (references and queries, by id)")
    p.add_argument(
        "--photo-keys",
        action="store_true",
        help="photo queries: match the reference photos of REF (an index folder of a CLIBD or image model, "
        "embedded with its own model) instead of reference barcodes",
    )
    p.add_argument("--within", help="only references under this taxon, at any rank (e.g. Diptera)")
    p.add_argument("--country", help="only references collected in this country")
    p.add_argument(
        "--thresholds", type=_parse_thresholds, help="per-rank identity thresholds, e.g. species=0.97,genus=0.94"
    )
    p.add_argument(
        "--candidates",
        type=int,
        default=DEFAULT_CANDIDATES,
        help=f"distinct reference barcodes aligned per query (default {DEFAULT_CANDIDATES})",
    )
    p.add_argument("--chunk-size", type=int, default=1000, help="queries per resumable chunk (default 1000)")
    p.add_argument("--num-proc", type=int, default=1, help="processes aligning queries (default 1)")
    p.add_argument(
        "--skip-bad", action="store_true", help="leave unusable records out and list them in OUT's .skipped.tsv"
    )

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.search import identify

        result = identify(
            args.queries,
            args.reference,
            args.out,
            reference_splits=tuple(s.strip() for s in args.reference_splits.split(",") if s.strip()),
            query_split=args.split,
            model=args.model,
            embeddings=args.embeddings,
            photo_keys=args.photo_keys,
            top_k=args.top_k,
            within=args.within,
            country=args.country,
            thresholds=args.thresholds,
            candidates=args.candidates,
            chunk_size=args.chunk_size,
            num_proc=args.num_proc,
            skip_bad=args.skip_bad,
        )
        print(result.report())

    p.set_defaults(func=run)


def _add_index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="embed reference specimens and write FAISS indexes for the Space",
        description="Embed the keys (train + key_unseen) of a prepared dataset and write one FAISS index "
        "per key modality, OUT/keys.parquet (key metadata) and OUT/index.json. With a DNA model "
        "(BarcodeBERT folder, hf:…, kmerK) the keys are barcodes (metadata config); with an image model "
        "(timm:…, hf:…) photos; with a CLIBD folder they are barcodes and photos in one space, with "
        "thumbnails (image config, default cropped_256), so "
        "the Space can identify a photo.",
    )
    p.add_argument("--dataset", required=True, help="folder written by `bioscan-hf prepare`")
    p.add_argument("--model", default="kmer6", help=f"{MODEL_SPEC_HELP} (default kmer6)")
    _add_encoder_options(p)
    p.add_argument("--config", help="dataset config (default: metadata; cropped_256 for image models)")
    p.add_argument("--out", required=True, help="index folder to write (FAISS indexes, keys.parquet, index.json)")
    p.add_argument(
        "--approximate", action="store_true", help="inverted-file indexes instead of exact search (millions of keys)"
    )
    p.add_argument(
        "--nprobe",
        type=int,
        help="lists an approximate index searches per query (default 192: p95 < 50 ms at 1M keys on 2 cores; "
        "more = higher recall, slower: BENCHMARKS.md has the trade-off at 1M and 5.15M keys)",
    )
    p.add_argument("--embeddings", help=EMBEDDINGS_HELP)

    def run(args: argparse.Namespace) -> None:
        from bioscan_hf.core.paths import runnable
        from bioscan_hf.search import build_index

        options = {"nprobe": args.nprobe} if args.nprobe else {}
        folder = build_index(
            args.dataset,
            args.model,
            args.out,
            config=args.config,
            approximate=args.approximate,
            encoder_options=_encoder_options(args),
            embeddings=args.embeddings,
            **options,
        )
        print(f"index written to {folder}; start the Space (from a bioscan-hf checkout) with:")
        print(f"  {runnable('python')} spaces/bioscan-retrieval/app.py --index {folder}")

    p.set_defaults(func=run)


def _add_push_space(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push-space", help="upload the retrieval Space (app and index) to the Hub")
    p.add_argument("--repo-id", required=True, help="Hub Space id, e.g. me/bioscan-retrieval")
    p.add_argument("--app", default="spaces/bioscan-retrieval", help="the app folder")
    p.add_argument("--index", help="an index folder to ship as artifacts/index (built on first start otherwise)")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")

    def run(args: argparse.Namespace) -> None:
        import shutil
        import tempfile
        from pathlib import Path

        from bioscan_hf.hub import upload_folder

        with tempfile.TemporaryDirectory() as staging:
            folder = Path(staging) / "space"
            shutil.copytree(args.app, folder, ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
            if args.index:
                shutil.copytree(args.index, folder / "artifacts" / "index")
            url = upload_folder(
                folder,
                args.repo_id,
                "space",
                token=args.token,
                private=args.private,
                message="Upload the BIOSCAN retrieval Space with bioscan-hf",
            )
        print(f"uploaded to {url}")

    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    """The `bioscan-hf` argument parser with one sub-command per capability."""
    parser = argparse.ArgumentParser(
        prog="bioscan-hf",
        description="Hugging Face-native toolkit for BIOSCAN-5M: datasets, models, evaluation, Space.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_demo,
        _add_sample,
        _add_prepare,
        _add_push,
        _add_download,
        _add_verify,
        _add_import_bold,
        _add_training_commands,
        _add_convert_barcodebert,
        _add_convert_clibd,
        _add_model_card,
        _add_push_model,
        _add_embed,
        _add_evaluate,
        _add_tables,
        _add_index,
        _add_identify,
        _add_push_space,
    ):
        add(sub)
    return parser


def console() -> None:
    """The `bioscan-hf` executable: `main`, then an immediate exit once the output is flushed.

    Python's own shutdown can abort a process whose work is done ("terminate called without an active
    exception": pyarrow's threads at interpreter exit, apache/arrow#45214, datasets#7566), which would turn
    a finished run into a failed one; nothing is left to do at that point, so it is skipped.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bioscan-hf` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TRAINING_COMMANDS:  # parsed by their HfArgumentParser (every TrainingArguments field)
        try:
            _run_training(argv[0], argv[1:])
        except (ValueError, FileNotFoundError, RuntimeError, OSError) as err:
            print(f"bioscan-hf {argv[0]}: error: {err}", file=sys.stderr)
            return 1
        return 0
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as err:
        print(f"bioscan-hf {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    console()
