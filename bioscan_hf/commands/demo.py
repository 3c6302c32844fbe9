"""`bioscan-hf demo`: the main job, end to end, and `space-index`: the retrieval Space's default index (the
pipeline itself is `bioscan_hf.demo`, on the App floor; the Space runs `space-index` as a command and
reaches only the index folder it writes)."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.commands.common import Command, scale
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import option
from bioscan_hf.demo import DEMO_STEPS, demo_index, run_demo


@dataclass(kw_only=True)
class DemoOptions:
    out: str = option("folder for everything the demo writes (default: demo_out)", "demo_out")
    release: str | None = option("a BIOSCAN-5M release folder (not with --bold)", None)
    bold: list[str] = option("BOLD TSV export(s), combined or BCDM (not with --release)", [], nargs="+")
    scale: str = option("sample size: small (2,000), medium (20,000) or N", "small")
    seed: int = option("random seed of the synthetic sample", 0)
    num_proc: int | None = option("processes for preparing the dataset", None)
    pretrain_steps: int | None = option(
        f"steps of BarcodeBERT pre-training for the embedding check (0: dataset report only; default "
        f"{DEMO_STEPS['quick'][0]}, {DEMO_STEPS['full'][0]} with --full)",
        None,
    )
    clibd_steps: int | None = option(
        f"steps of CLIBD image–DNA alignment on the sample's images (0: skip; needs --pretrain-steps; default "
        f"{DEMO_STEPS['quick'][1]}, {DEMO_STEPS['full'][1]} with --full)",
        None,
    )
    full: bool = option("train the demo's models longer (better figures; about 3× the time of the default run)", False)


def run(o: DemoOptions) -> None:
    if o.release and o.bold:
        raise InputError("--release and --bold exclude each other: give one source")
    pretrain_steps, clibd_steps = DEMO_STEPS["full" if o.full else "quick"]
    run_demo(
        o.out,
        release=o.release,
        bold=o.bold,
        scale=scale(o.scale),
        seed=o.seed,
        num_proc=o.num_proc,
        pretrain_steps=pretrain_steps if o.pretrain_steps is None else o.pretrain_steps,
        clibd_steps=clibd_steps if o.clibd_steps is None else o.clibd_steps,
    )


@dataclass(kw_only=True)
class SpaceIndexOptions:
    out: str = option("the index folder to write (the work files go beside it)")
    clibd_steps: int = option("steps of CLIBD image–DNA alignment on the sample", 100)
    scale: str = option("sample size: small (2,000), medium (20,000) or N", "small")
    seed: int = option("random seed of the synthetic sample", 0)


def run_space_index(o: SpaceIndexOptions) -> None:
    folder = demo_index(o.out, clibd_steps=o.clibd_steps, scale=scale(o.scale), seed=o.seed)
    print(f"index written to {folder} (synthetic sample: generated specimens, not real insects)")


COMMANDS: dict[str, Command] = {
    "demo": Command(
        DemoOptions,
        run,
        "Run the toolkit end to end on the embedded synthetic sample (default), on a release folder (--release) "
        "or on real BOLD exports (--bold), and write a report.",
    ),
    "space-index": Command(
        SpaceIndexOptions,
        run_space_index,
        "Build the retrieval Space's default index from the embedded synthetic sample: the sample prepared, a "
        "small CLIBD trained on its photos and barcodes, their DNA and image keys indexed into OUT. The Space "
        "runs this on its first start when it has no index.",
    ),
}
