"""The settings of a search run, as `TrainingArguments` is for training: one frozen dataclass per run
(`IdentifySettings`, `CalibrateSettings`, `IndexSettings`), each field declared once with its help text
and default. The same class is the Python API's argument (`identify(queries, reference, out, settings)`),
the command's options (parsed by `HfArgumentParser`) and, through `as_dict`, what a resumed run must match.
Values are checked when the settings are made, so a wrong one stops before any work. Importing this module
imports no engine: the commands' `--help` costs this file alone."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import Settings, at_least, comma_list, option, probability
from bioscan_hf.core.specs import SPEC_HELP
from bioscan_hf.core.vectors import DEFAULT_NPROBE
from bioscan_hf.data.exclusions import EXCLUDE_MIN_SCORE, EXCLUDE_MIN_SCORE_HELP
from bioscan_hf.data.schema import CALL_RANKS, KEY_SPLITS
from bioscan_hf.embedding.settings import EMBEDDINGS_HELP, EncoderSettings

#: Distinct reference barcodes aligned per query (the first 50 in full, the rest bounded:
#: `shortlist.ranked_alignments`); the top hit scores as the best of aligning all of them for 99.78% of
#: unseen-species queries (BENCHMARKS.md).
DEFAULT_CANDIDATES = 200
#: Calls need this calibrated probability by default. On the real BOLD file with a quarter of each genus'
#: species held out of the reference (BENCHMARKS.md): genus calls on unseen species 99.46% right (80.8% made),
#: species calls (adapted to the plate: `per_query`) on seen species 99.4% made and 99.8% right, on unseen species none.
DEFAULT_MIN_CONFIDENCE = 0.9
#: The fixed BOLD-style rule (`--thresholds`): a rank is called when the best identity reaches its value.
DEFAULT_THRESHOLDS: dict[str, float] = dict(zip(CALL_RANKS, (0.85, 0.90, 0.92, 0.95, 0.98, 0.98), strict=True))
#: Held-out queries of a calibration in all (fewer where the reference has fewer groups to hold out).
DEFAULT_QUERIES = 4_000
#: Which strands of a query are searched (`--strand`): both by default, as VSEARCH's `--strand both`.
STRANDS = ("both", "plus")
DEFAULT_STRAND = "both"
#: `table`: the hits file as OUT's kind of table; `blast6`: BLAST's tabular format (`-outfmt 6`).
OUTFMTS = ("table", "blast6")

_SPLITS_HELP = (
    "reference splits when REFERENCE is a prepared dataset (default train,key_unseen; also all, seen, unseen, a+b)"
)
_DEFAULTS = ", ".join(f"{rank} {value:.0%}%" for rank, value in DEFAULT_THRESHOLDS.items())  # %% for argparse


def parse_thresholds(value: str | dict[str, float] | None) -> dict[str, float] | None:
    """`species=0.97,genus=94` (or a dict) → the fixed rule with those thresholds and the defaults for the
    other ranks; identities are fractions (0–1] or percentages [50–100] (between 1 and 50 is refused: no
    identity threshold is meant there, and reading it either way would be a guess)."""
    if value is None:
        return None
    items = value.items() if isinstance(value, dict) else (i.partition("=")[::2] for i in comma_list(value))
    parsed = dict(DEFAULT_THRESHOLDS)
    for rank, text in items:
        rank = str(rank).strip()
        try:
            number = float(text)
        except (TypeError, ValueError):
            number = None
        if rank not in CALL_RANKS or number is None or not (0 < number <= 1 or 50 <= number <= 100):
            raise InputError(
                f"--thresholds '{rank}={text}': expected RANK=IDENTITY, RANK one of {', '.join(CALL_RANKS)} and "
                "IDENTITY a fraction of identical bases (0–1) or a percentage (50–100), e.g. species=0.97,genus=94"
            )
        parsed[rank] = number / 100 if number > 1 else number
    return parsed


@dataclass(frozen=True, kw_only=True)
class EngineSettings(Settings):
    """What every run of the identify engine takes: its shortlist, its processes and the output rule."""

    candidates: int = option(
        f"distinct reference barcodes aligned per query (default {DEFAULT_CANDIDATES})", DEFAULT_CANDIDATES
    )
    num_proc: int = option("processes aligning barcodes (default 1)", 1)
    skip_bad: bool = option("leave unusable records out and list them in OUT's .skipped.tsv", False)
    overwrite: bool = option("replace OUT and the files beside it even if this command did not write them", False)

    def __post_init__(self) -> None:
        at_least("candidates", self.candidates, 1)
        at_least("num_proc", self.num_proc, 1)

    def calibration_settings(self) -> CalibrateSettings:
        """How the calibration fitted on first use of a library is made (as this run shortlists)."""
        return CalibrateSettings(candidates=self.candidates, num_proc=self.num_proc)


@dataclass(frozen=True, kw_only=True)
class LibrarySettings(EngineSettings):
    """An engine run on a reference library, which may be a prepared dataset's splits."""

    reference_splits: str = option(_SPLITS_HELP, ",".join(KEY_SPLITS))
    exclude: str | None = option(
        "a suspects file of `bioscan-hf audit` on REFERENCE: those records are left out of the reference (a "
        "mislabelled reference misleads every query near it; on the real BOLD file, genus calls on unseen species "
        "made for 83.8%% instead of 80.3%% at the default confidence, BENCHMARKS.md)",
        None,
    )
    exclude_min_score: float = option(EXCLUDE_MIN_SCORE_HELP, EXCLUDE_MIN_SCORE)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("reference_splits", comma_list(self.reference_splits))
        probability("exclude_min_score", self.exclude_min_score)


@dataclass(frozen=True, kw_only=True)
class CalibrateSettings(LibrarySettings):
    """How a calibration is fitted on a reference library (`bioscan-hf calibrate`)."""

    queries: int = option(f"held-out queries (default {DEFAULT_QUERIES:,})", DEFAULT_QUERIES)
    seed: int = option("which species and records are held out", 0)

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("queries", self.queries, 1)

    def fit_key(self) -> str:
        """What a cached calibration of one reference depends on (its held-out draw and shortlist)."""
        return f"candidates{self.candidates}-queries{self.queries}-seed{self.seed}"


@dataclass(frozen=True, kw_only=True)
class IdentifySettings(LibrarySettings):
    """How `identify` reads, searches, calls and writes (`bioscan-hf identify`)."""

    query_split: str = option(
        "query split when QUERIES is a prepared dataset (default test)", "test", aliases=["--split"]
    )
    top_k: int = option("also write the best K hits per query to OUT's .hits file", 0)
    model: str | None = option(
        f"shortlist by an encoder's neighbours instead of seeds; photos need CLIBD. {SPEC_HELP}", None
    )
    embeddings: str | None = option(f"with --model: {EMBEDDINGS_HELP} (references and queries, by id)", None)
    photo_keys: bool = option(
        "photo queries: match the reference photos of REF (an index folder of a CLIBD or image model, embedded "
        "with its own model) instead of reference barcodes",
        False,
    )
    within: str | None = option("only references under this taxon, at any rank (e.g. Diptera)", None)
    country: str | None = option("only references collected in this country", None)
    min_confidence: float = option(
        f"call a rank when the calibrated probability that its candidate is right reaches this (default "
        f"{DEFAULT_MIN_CONFIDENCE}: on the real BOLD file, genus calls on unseen species 99.46%% right, species "
        "calls on seen species 99.4%% made and 99.8%% right; 0.98 for calls on short amplicons as accurate as "
        "SINTAX's, BENCHMARKS.md)",
        DEFAULT_MIN_CONFIDENCE,
    )
    calibration: str | None = option(
        "a calibration file of `bioscan-hf calibrate` (default: fitted on REFERENCE itself on first use and kept "
        "in the cache folder)",
        None,
    )
    thresholds: str | None = option(
        f"the fixed BOLD-style rule instead: call a rank when the best identity reaches its threshold, e.g. "
        f"species=0.97,genus=0.94 (unnamed ranks: {_DEFAULTS}); RANK_confidence stays the calibrated probability that "
        f"the rank's candidate is right, called or not (the note says when the rule refused a confident candidate)",
        None,
    )
    outfmt: str = option(
        "table: hits in OUT's kind of table (with --top-k); blast6: hits as BLAST's -outfmt 6 in OUT's "
        ".hits.blast6 (qseqid sseqid pident length mismatch gapopen qstart qend sstart send evalue bitscore; "
        "10 per query unless --top-k)",
        "table",
    )
    chunk_size: int = option("queries per resumable chunk (default 1000)", 1_000)
    per_query: bool = option(
        "species and order confidences as for each query alone. By default they are adapted to the plate: the "
        "share of its queries whose species (order) the reference holds is estimated from the plate itself (EM, "
        "Saerens et al. 2002) and replaces the calibration's (about half of species, 88%% of orders), so a plate of "
        "unknown species gets no species call, one of known species or orders is called more, and the calls below "
        "an order are made again (BENCHMARKS.md)",
        False,
    )
    strand: str = option(
        "both (default): search each query and its reverse complement, as BLAST and VSEARCH --strand both do "
        "(Sanger exports and amplicon reads come in either orientation; minus-strand hits have sstart > send); "
        "plus: the queries as given",
        DEFAULT_STRAND,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("thresholds", parse_thresholds(self.thresholds))
        if self.strand not in STRANDS:
            raise InputError(f"--strand {self.strand!r}: expected one of {', '.join(STRANDS)}")
        if self.outfmt not in OUTFMTS:
            raise InputError(f"--outfmt {self.outfmt!r}: expected one of {', '.join(OUTFMTS)}")
        probability("min_confidence", self.min_confidence)
        at_least("top_k", self.top_k, 0)
        at_least("chunk_size", self.chunk_size, 1)
        if self.embeddings and not self.model:
            raise InputError("--embeddings needs --model: the model that wrote them, to embed anything they lack")
        if self.photo_keys and self.model:
            raise InputError("--photo-keys embeds photos with the index's own model; leave out --model")


@dataclass(frozen=True, kw_only=True)
class IndexSettings(EncoderSettings):
    """How `build_index` embeds a prepared dataset's keys and indexes them (`bioscan-hf index`)."""

    config: str | None = option("dataset config (default: metadata; cropped_256 for image models)", None)
    splits: str = option("the splits embedded as keys (default train,key_unseen)", ",".join(KEY_SPLITS))
    approximate: bool = option("inverted-file indexes instead of exact search (millions of keys)", False)
    nprobe: int = option(
        f"lists an approximate index searches per query (default {DEFAULT_NPROBE}: p95 < 50 ms at 1M keys on 2 "
        "cores; more = higher recall, slower: BENCHMARKS.md has the trade-off at 1M and 5.15M keys)",
        DEFAULT_NPROBE,
    )
    embeddings: str | None = option(EMBEDDINGS_HELP, None)
    overwrite: bool = option(
        "write into a folder holding files index did not write (same-named files are replaced; no other file "
        "is deleted)",
        False,
    )

    def __post_init__(self) -> None:
        self._set("splits", comma_list(self.splits))
        at_least("nprobe", self.nprobe, 1)
