"""`bioscan-hf identify` against blastn, MMseqs2 (`easy-search --search-type 3`), VSEARCH (`--usearch_global`)
and SINTAX (`vsearch --sintax`) on
the real BOLD file (../shared/data), in one run; then the seed index at 100k and 1M references.

Partition (`species_partition`): in every genus with two or more species, a quarter of the species
(at least one, never all) leave the reference whole: their records are the `unseen` queries (species
absent, genus present, as BIOSCAN-5M's unseen splits). Of the other records, one in ten is a `seen`
query (its species is in the reference). Both query sets are subsampled (`--unseen`, `--seen`). Every tool
reads the same files: the reference as a SINTAX FASTA (`>processid;tax=o:…,f:…,g:…,s:…;`), queries as
FASTA. Every tool has the machine's two cores: ours `--num-proc 2`, the peers two threads.

Measured: the genus of the top hit on unseen species and the species of the top hit on seen species
(micro and macro accuracy, wall time and peak memory of each tool's process); ours also per rank:
coverage, accuracy of calls, species calls on unseen species (over-classification), expected calibration
error (its calibration is fitted on the reference alone, never on these queries); SINTAX's coverage and
accuracy at its 0.8 cutoff beside; the recall of blastn's top hit in our shortlist (the recall of the
exhaustive best score: bench/bench_shortlist.py). Then the same queries cut to short amplicons (their first
`AMPLICON` bases, as metabarcoding reads them): our calls against SINTAX's, coverage and accuracy per rank.

    python bench/bench_identify.py [--skip-scale | --only-scale] [--out bench/identify.json]
    python bench/bench_identify.py --skip-scale --seed 1 --out bench/identify_seed1.json   # another partition
    python bench/bench_identify.py --write-default   # refit the package's default calibration
    python bench/bench_identify.py --skip-scale --audited --out bench/identify_audited.json

`--audited`: `bioscan-hf audit` of the reference alone (no query read), then the unseen queries again against
the reference less its suspects (score ≥ 0.5): ours with `identify --exclude`, the peers on the same records
written without them.

Needs Debian's ncbi-blast+, mmseqs2, vsearch and time: installed here when run as root with apt, else the
command is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_knn_dedup import prepared_bold  # noqa: E402

from bioscan_hf.search.calls import SINTAX_LETTERS, read_candidates  # noqa: E402


def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """Run a command; its wall seconds and peak resident memory (MB, GNU time's %M of that process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *command],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wall = time.perf_counter() - start
        return wall, int(rss.read().split()[-1]) / 1024


BOLD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bold" / "insects_dev.tsv.gz"
#: The ranks scored, with their SINTAX letters (the reference's `;tax=` lineage for SINTAX).
RANK_LETTERS = {rank: SINTAX_LETTERS[rank] for rank in ("order", "family", "genus", "species")}


def bold_table() -> pd.DataFrame:
    """The real BOLD file as a reference table (bioscan-hf's BOLD reader)."""
    from bioscan_hf.data.sources import CALL_RANKS, Problems, bold_records

    table = pd.DataFrame(list(bold_records(BOLD, Problems())))
    table = table.reindex(columns=["processid", "dna_barcode", *CALL_RANKS, "country"])
    return table.astype(object).where(table.notna(), None)


def species_partition(table: pd.DataFrame, unseen: int, seen: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """keys / unseen / seen as described in the module docstring."""
    rng = np.random.default_rng(seed)
    held = set()
    for _, species in sorted(table.groupby("genus")["species"].unique().items()):
        species = sorted(species)
        if len(species) >= 2:
            held.update(rng.choice(species, max(1, min(len(species) - 1, round(len(species) / 4))), replace=False))
    is_unseen = table["species"].isin(held).to_numpy()
    is_seen = ~is_unseen & (rng.random(len(table)) < 0.1)
    return {
        "keys": table[~is_unseen & ~is_seen],
        "unseen": table[is_unseen].sample(min(unseen, int(is_unseen.sum())), random_state=seed),
        "seen": table[is_seen].sample(min(seen, int(is_seen.sum())), random_state=seed),
    }


#: Short amplicons: the first bases of each barcode (the 5′ end of the Folmer region, where mini-barcode
#: primer pairs anchored on LCO1490 amplify, e.g. ANML's ~180 bases).
AMPLICON = 200


def amplicons(frame: pd.DataFrame) -> pd.DataFrame:
    """The same queries cut to their first `AMPLICON` bases (leading Ns and gaps dropped first)."""
    cut = frame["dna_barcode"].str.replace("-", "").str.lstrip("N").str[:AMPLICON]
    return frame.assign(dna_barcode=cut)


def write_fasta(frame: pd.DataFrame, path: Path, sintax: bool = False) -> None:
    with open(path, "w") as handle:
        for row in frame.itertuples():
            header = row.processid
            if sintax:
                lineage = [f"{k}:{getattr(row, r)}" for r, k in RANK_LETTERS.items() if getattr(row, r)]
                header += ";tax=" + ",".join(lineage).replace(" ", "_") + ";"
            handle.write(f">{header}\n{row.dna_barcode}\n")


def accuracy(top_hit: pd.Series, queries: pd.DataFrame, keys: pd.DataFrame, rank: str) -> dict:
    """Top-hit accuracy at `rank`: micro and macro over the queries labelled there (no hit = wrong)."""
    queries = queries.set_index("processid")
    predicted = top_hit.reindex(queries.index).map(keys.set_index("processid")[rank])
    labelled = queries[rank].notna()
    right = (predicted == queries[rank])[labelled]
    return {
        "micro": round(100 * right.mean(), 2),
        "macro": round(100 * right.groupby(queries[rank][labelled]).mean().mean(), 2),
        "no_hit": int(predicted[labelled].isna().sum()),
    }


def first_hits(path: Path) -> pd.Series:
    hits = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1], dtype=str)
    return hits.drop_duplicates(0).set_index(0)[1]


def sintax_calls(path: Path, queries: pd.DataFrame) -> dict:
    """SINTAX's coverage and accuracy per rank at its cutoff (column 4 of --tabbedout)."""
    out = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False).set_index(0)
    called = {rank: {} for rank in RANK_LETTERS}
    for pid, lineage in out[3].items():
        for item in filter(None, lineage.split(",")):
            letter, _, name = item.partition(":")
            for rank, key in RANK_LETTERS.items():
                if key == letter:
                    called[rank][pid] = name.replace("_", " ")
    return scored_calls(called, queries)


def scored_calls(called: dict[str, dict[str, str]], queries: pd.DataFrame) -> dict:
    """Coverage and accuracy per rank of calls (rank → query id → label) over all `queries`."""
    result = {}
    for rank in RANK_LETTERS:
        truth = queries.set_index("processid")[rank]
        calls = pd.Series(called[rank], dtype=object).reindex(truth.index)
        made = calls.notna()
        result[rank] = {
            "coverage": round(float(made.mean()), 4),
            "accuracy_of_calls": round(float((calls == truth)[made].mean()), 4) if made.any() else None,
        }
    return result


def calls_at(results: pd.DataFrame, queries: pd.DataFrame, threshold: float) -> dict:
    """Our coverage and accuracy per rank as if run with `--min-confidence threshold`, read from each
    query's candidates (`o:Diptera(0.99),f:…`): a rank is called where it and every rank above it listed
    reach the threshold (the chain `identify` applies)."""
    called = {rank: {} for rank in RANK_LETTERS}
    for query, candidates in results.set_index("query")["candidates"].fillna("").items():
        sure = True
        for rank, (label, confidence) in read_candidates(candidates).items():
            sure = sure and confidence is not None and confidence >= threshold
            if sure and rank in called:
                called[rank][query] = label
    return scored_calls(called, queries)


def shortlist_recall(keys: pd.DataFrame, queries: pd.DataFrame, blast_top: pd.Series) -> dict:
    """How often blastn's top hit is among the references we align (recall of the exhaustive best score:
    bench/bench_shortlist.py)."""
    from bioscan_hf.search.engine import Identifier
    from bioscan_hf.search.references import Reference
    from bioscan_hf.search.settings import DEFAULT_CANDIDATES

    reference = Reference(keys.reset_index(drop=True))
    engine = Identifier(reference)
    sequences = list(queries["dna_barcode"])
    shortlists = engine.shortlist(sequences)
    key_of = dict(zip(keys["processid"], reference.key_of_record))
    found = [
        key_of.get(blast_top.get(pid)) in set(s.tolist())
        for pid, s in zip(queries["processid"], shortlists)
        if pid in blast_top
    ]
    return {"candidates": DEFAULT_CANDIDATES, "blastn_top_hit_in_shortlist": round(float(np.mean(found)), 4)}


def peers(
    workdir: Path, unseen: int, seen: int, seed: int = 0, out: Path = HERE / "identify.json", audited: bool = False
) -> dict:
    """Ours beside blastn, MMseqs2 and SINTAX on one partition; our reliability plots beside `out`
    (`<out stem>_reliability_<split>.png`), so a second partition's run keeps the first one's. With `audited`,
    the unseen queries again against the reference less its audit's suspects (`audited_reference`)."""
    parts = species_partition(bold_table(), unseen, seen, seed)
    parts |= {f"{split}_amplicon": amplicons(parts[split]) for split in ("unseen", "seen")}
    write_fasta(parts["keys"], workdir / "keys.sintax.fasta", sintax=True)
    write_fasta(parts["keys"], workdir / "keys.fasta")
    for split in ("unseen", "seen", "unseen_amplicon", "seen_amplicon"):
        write_fasta(parts[split], workdir / f"{split}.fasta")
        write_fasta(parts[split], workdir / f"{split}.sintax.fasta", sintax=True)  # ours: truth for its summary
    blast_db(workdir, "keys")
    results: dict = {
        "partition": {
            k: {"records": len(v), "species": int(v["species"].nunique()), "genera": int(v["genus"].nunique())}
            for k, v in parts.items()
        }
    }
    cache = workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    ours_env = {**os.environ, "BIOSCAN_HF_CACHE": str(cache)}
    tasks = (("unseen", "genus"), ("seen", "species"), ("unseen_amplicon", "genus"), ("seen_amplicon", "species"))
    for split, rank in tasks:
        runs = tool_commands(workdir, split, split, "keys")
        if split.endswith("_amplicon"):  # short amplicons: ours against SINTAX, the metabarcoding classifier
            runs = {tool: runs[tool] for tool in ("bioscan-hf identify", "sintax")}
        fit_key = "calibration_fit_and_identify_seconds" if split == "unseen" else None  # the first run fits
        results[split] = measure(workdir, runs, split, split, rank, parts, ours_env, out, results, fit_key)
    if audited:
        results["unseen_audited"] = audited_reference(workdir, parts, ours_env, out, results)
    blast_top = first_hits(workdir / "unseen.blast.tsv")
    results["shortlist"] = shortlist_recall(parts["keys"], parts["unseen"], blast_top)
    print(results["shortlist"], flush=True)
    return results


def blast_db(workdir: Path, keys: str) -> None:
    """blastn's database of `workdir/<keys>.fasta`, named `workdir/<keys>`."""
    subprocess.run(
        ["makeblastdb", "-in", str(workdir / f"{keys}.fasta"), "-dbtype", "nucl", "-out", str(workdir / keys)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def tool_commands(workdir: Path, split: str, label: str, keys: str, *ours: str) -> dict[str, list[str]]:
    """Each tool's command for the queries of `split` against the reference `keys` (`<keys>.fasta`,
    `<keys>.sintax.fasta`, blastn's database `<keys>`), writing `<label>.<tool>.tsv`; `ours`: more options."""
    queries = str(workdir / f"{split}.fasta")
    return {
        "bioscan-hf identify": [
            str(Path(sys.executable).parent / "bioscan-hf"),
            "identify",
            str(workdir / f"{split}.sintax.fasta"),
            "--reference",
            str(workdir / f"{keys}.sintax.fasta"),
            "--out",
            str(workdir / f"{label}.ours.tsv"),
            "--num-proc",
            "2",  # the two cores the peers' two threads use
            "--quiet",
            "--overwrite",
            *ours,
        ],
        "blastn": [
            "blastn",
            "-query",
            queries,
            "-db",
            str(workdir / keys),
            "-outfmt",
            "6 qseqid sseqid pident",
            "-max_target_seqs",
            "10",
            "-num_threads",
            "2",
            "-out",
            str(workdir / f"{label}.blast.tsv"),
        ],
        "vsearch": [
            "vsearch",
            "--usearch_global",
            queries,
            "--db",
            str(workdir / f"{keys}.fasta"),
            "--id",
            "0.5",
            "--maxaccepts",
            "1",
            "--maxrejects",
            "32",
            "--threads",
            "2",
            "--blast6out",
            str(workdir / f"{label}.vsearch.tsv"),
        ],
        "mmseqs2": [
            "mmseqs",
            "easy-search",
            queries,
            str(workdir / f"{keys}.fasta"),
            str(workdir / f"{label}.mmseqs.tsv"),
            str(workdir / "mmseqs_tmp"),
            "--search-type",
            "3",
            "--threads",
            "2",
        ],
        "sintax": [
            "vsearch",
            "--sintax",
            queries,
            "--db",
            str(workdir / f"{keys}.sintax.fasta"),
            "--sintax_cutoff",
            "0.8",
            "--threads",
            "2",
            "--tabbedout",
            str(workdir / f"{label}.sintax.tsv"),
        ],
    }


def measure(
    workdir: Path,
    runs: dict,
    split: str,
    label: str,
    rank: str,
    parts: dict,
    ours_env: dict,
    out: Path,
    results: dict,
    fit_key: str | None = None,
) -> dict:
    """Run each tool of `runs` (their outputs named by `label`) on the queries of `split`: wall time, peak
    memory, top-hit accuracy at `rank`, and ours' calls and reliability plot (`<out stem>_reliability_<label>.png`).
    With `fit_key`, ours runs twice: its first run fits the calibration (its time in `results[fit_key]`)."""
    rows = {}
    for tool, command in runs.items():
        if tool == "bioscan-hf identify" and fit_key:
            wall, peak = timed(command, ours_env)
            results[fit_key] = round(wall, 1)
        wall, peak = timed(command, ours_env)
        row = {"seconds": round(wall, 1), "peak_mb": round(peak)}
        if tool == "bioscan-hf identify":
            ours = pd.read_csv(workdir / f"{label}.ours.tsv", sep="\t", dtype={"best_hit": str, "query": str})
            row[rank] = accuracy(ours.set_index("query")["best_hit"], parts[split], parts["keys"], rank)
            row["calls"] = json.loads((workdir / f"{label}.ours.summary.json").read_text())
            row["calls_at"] = {t: calls_at(ours, parts[split], t) for t in (0.8, 0.9, 0.95, 0.98, 0.99)}
            plot = workdir / f"{label}.ours.reliability.png"
            if plot.is_file():  # none where no query got a confidence (all shorter than the calibration calls)
                shutil.copy(plot, out.with_name(f"{out.stem}_reliability_{label}.png"))
        elif tool == "sintax":
            row["calls"] = sintax_calls(workdir / f"{label}.sintax.tsv", parts[split])
        else:
            top = first_hits(workdir / f"{label}.{ {'blastn': 'blast', 'mmseqs2': 'mmseqs'}.get(tool, tool) }.tsv")
            row[rank] = accuracy(top, parts[split], parts["keys"], rank)
        rows[tool] = row
        print(label, tool, {k: v for k, v in row.items() if k != "calls"}, flush=True)
    return rows


def audited_reference(workdir: Path, parts: dict, ours_env: dict, out: Path, results: dict) -> dict:
    """`bioscan-hf audit` of the reference alone (no query is read), then the unseen queries against the
    reference less its suspects (score ≥ 0.5: ours by `identify --exclude`, every peer on the same records
    written without them), each tool on the same files."""
    from bioscan_hf.data.exclusions import EXCLUDE_MIN_SCORE, read_suspects

    audit = workdir / "keys.audit.tsv"
    command = [str(Path(sys.executable).parent / "bioscan-hf"), "audit", str(workdir / "keys.sintax.fasta")]
    wall, peak = timed([*command, "--out", str(audit), "--num-proc", "2", "--quiet", "--overwrite"], ours_env)
    suspects = read_suspects(audit, EXCLUDE_MIN_SCORE)  # what identify --exclude leaves out
    kept = parts["keys"][~parts["keys"]["processid"].isin(set(suspects["processid"]))]
    write_fasta(kept, workdir / "keys_audited.fasta")
    write_fasta(kept, workdir / "keys_audited.sintax.fasta", sintax=True)
    blast_db(workdir, "keys_audited")
    runs = tool_commands(workdir, "unseen", "unseen_audited", "keys", "--exclude", str(audit))
    for tool in ("blastn", "mmseqs2", "vsearch"):
        runs[tool] = tool_commands(workdir, "unseen", "unseen_audited", "keys_audited")[tool]
    rows = measure(
        workdir,
        {t: runs[t] for t in ("bioscan-hf identify", "blastn", "mmseqs2", "vsearch")},
        "unseen",
        "unseen_audited",
        "genus",
        parts,
        ours_env,
        out,
        results,
        "calibration_fit_and_identify_seconds_audited",
    )
    by_category = suspects["category"].value_counts().to_dict()
    return {
        "audit": {"seconds": round(wall, 1), "peak_mb": round(peak), "left_out": len(suspects), **by_category},
        **rows,
    }


def write_default() -> None:
    """Refit the package's default calibration on the whole real BOLD file."""
    from bioscan_hf.search.calibration import DEFAULT_FILE
    from bioscan_hf.search.held_out import calibrate

    table = bold_table()
    calibration = calibrate(table, queries=6000)
    calibration.fitted_on = f"the real BOLD file of bioscan-hf's tests ({len(table):,} records, 4 insect orders)"
    calibration.save(DEFAULT_FILE)
    print(calibration.report())


def scale(workdir: Path) -> list[dict]:
    """Seed index build and query cost at 100k and 1M synthetic distinct references."""
    import psutil

    from bioscan_hf.data.prepared import load_prepared
    from bioscan_hf.data.sources import Query
    from bioscan_hf.search.engine import Identifier
    from bioscan_hf.search.references import Reference
    from bioscan_hf.search.seeds import SeedIndex, projected_bytes

    data = load_prepared(prepared_bold(workdir), "metadata")
    real = sorted(set(data["train"]["dna_barcode"][:]))
    queries = list(data["test"]["dna_barcode"][:1000])
    rng = np.random.default_rng(0)
    rows = []
    for size in (100_000, 1_000_000):
        bases = np.frombuffer("".join(real).encode(), dtype=np.uint8)
        lengths = np.array([len(b) for b in real])
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        refs = []
        for i in range(size):
            j = i % len(real)
            seq = bases[offsets[j] : offsets[j + 1]].copy()
            n = int(rng.integers(0, int(0.12 * len(seq)) + 1))
            where = rng.integers(0, len(seq), n)
            seq[where] = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)]
            refs.append(seq.tobytes().decode())
        refs = list(dict.fromkeys(refs))  # distinct, as the engine indexes them
        process = psutil.Process()
        before = process.memory_info().rss
        start = time.perf_counter()
        index = SeedIndex.build(refs, progress=True)
        build = time.perf_counter() - start
        held = index.nbytes
        start = time.perf_counter()
        index.shortlist(queries, 50)
        query = time.perf_counter() - start
        # the whole engine (shortlist, alignment of 50 candidates, calls) on the same references
        table = pd.DataFrame({"processid": [f"R{i}" for i in range(len(refs))], "dna_barcode": refs})
        for column in ("order", "family", "subfamily", "genus", "species", "dna_bin", "country"):
            table[column] = None
        reference = Reference(table)
        reference._seeds = index  # the index measured above
        start = time.perf_counter()
        Identifier(reference).identify([Query(f"Q{i}", sequence=q) for i, q in enumerate(queries)])
        identify = time.perf_counter() - start
        rows.append(
            {
                "references": len(refs),
                "build_s": round(build, 1),
                "index_gb": round(held / 1e9, 2),
                "rss_growth_gb": round((process.memory_info().rss - before) / 1e9, 2),
                "shortlist_ms_per_query": round(1000 * query / len(queries), 2),
                "identify_ms_per_query": round(1000 * identify / len(queries), 2),
                "peak_rss_gb": round(process.memory_info().rss / 1e9, 2),
                "projected_gb_at_2.3M": round(projected_bytes(2_300_000) / 1e9, 1),
            }
        )
        print(rows[-1], flush=True)
        del index, refs, table, reference
    return rows


PEER_PACKAGES = ("ncbi-blast+", "mmseqs2", "vsearch", "time")


def install_peers() -> None:
    """Install the peers from Debian where this machine can (root with apt); else stop with the command."""
    tools = ("blastn", "makeblastdb", "mmseqs", "vsearch", "/usr/bin/time")
    if all(shutil.which(tool) for tool in tools):
        return
    command = ["apt-get", "install", "-y", "-q", *PEER_PACKAGES]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not found: {' '.join(command)} (as root)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--only-scale", action="store_true", help="only the 100k / 1M reference part")
    parser.add_argument("--unseen", type=int, default=3000, help="unseen-species queries (default 3000)")
    parser.add_argument("--seen", type=int, default=1500, help="seen-species queries (default 1500)")
    parser.add_argument("--seed", type=int, default=0, help="which species leave the reference (default 0)")
    parser.add_argument("--write-default", action="store_true", help="refit the package's default calibration")
    parser.add_argument(
        "--audited", action="store_true", help="also the unseen queries against the reference less its audit's suspects"
    )
    parser.add_argument("--out", default=str(HERE / "identify.json"))
    args = parser.parse_args()
    if args.write_default:
        return write_default()
    install_peers()
    workdir = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="bench-identify-"))
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "blastn": subprocess.run(["blastn", "-version"], capture_output=True, text=True).stdout.splitlines()[0],
        "vsearch": subprocess.run(["vsearch", "--version"], capture_output=True, text=True).stderr.splitlines()[0],
        "mmseqs2": subprocess.run(["mmseqs", "version"], capture_output=True, text=True).stdout.strip(),
    }
    if not args.only_scale:
        report["peers"] = peers(workdir, args.unseen, args.seen, args.seed, Path(args.out), args.audited)
        report["partition_seed"] = args.seed
    if not args.skip_scale:
        report["scale"] = scale(workdir)
    elif Path(args.out).is_file() and "scale" in (earlier := json.loads(Path(args.out).read_text())):
        report["scale"] = earlier["scale"] | {"from_an_earlier_run": True}  # --skip-scale keeps the last one
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
