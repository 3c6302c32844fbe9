"""`bioscan-hf audit` on the real BOLD file (../shared/data) with planted errors, beside a top-hit
baseline (VSEARCH, the way curators often screen a library: a record whose best other match is of
another genus or order is flagged), measured in the same run; then time and peak memory at 60,000 records.

Planting (`plant`): nobody planted anything in the BOLD file, so this does. `--per-kind` records (default
50) of each of five kinds, all distinct, drawn from records with a full lineage and a clean barcode
(≥ 500 bases, no ambiguous base, an open reading frame):

- `genus_swap`: genus and species (and subfamily) replaced by those of a species of another genus in the
  same family;
- `order_swap`: the whole lineage replaced by that of a record of another order;
- `foreign_barcode`: the barcode (and its BIN) replaced by that of a record of another order (contamination);
- `frameshift`: one random base inserted in the middle third of the barcode;
- `ambiguous`: 2.5% of the barcode's bases set to `N`.

Measured: recall of the planted records among the top 3% and 1% of the audit's ranking (the first
⌈0.03 · N⌉ rows, N the records of the library, audited with `--min-score 0` so the ranking is complete),
overall and per kind, and the share of planted records among the first 250 (as many as were planted);
the baseline's on the same files; the share of frameshift/ambiguous plants whose row is
`barcode_qc`; the natural suspects of the unplanted records at score ≥ 0.5, per category, with a sample
written to bench/audit_natural_sample.tsv for reading; wall time and peak memory (GNU time) of each tool.
The 60,000-record library is the real file plus 11,113 copies of real records with 1% substitutions (new
ids, same labels: synthetic additions, for timing only).

    python bench/bench_audit.py [--per-kind 50] [--skip-scale] [--out bench/audit.json]

Needs Debian's vsearch and time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_identify import BOLD, install_peers, timed  # noqa: E402

from bioscan_hf.audit.qc import frameshift  # noqa: E402
from bioscan_hf.core.barcodes import barcode_key  # noqa: E402

KINDS = ("genus_swap", "order_swap", "foreign_barcode", "frameshift", "ambiguous")
RANK_COLUMNS = ("order_name", "family_name", "subfamily_name", "genus_name", "species_name")
TOP_SHARE = 0.03


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a BOLD TSV, as text cells."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\t".join(header) + "\n")
        handle.writelines("\t".join(row) + "\n" for row in rows)


def plant(header: list[str], rows: list[list[str]], per_kind: int, seed: int = 0) -> pd.DataFrame:
    """Plant `per_kind` errors of each kind into `rows` (in place); the planted records and how."""
    rng = np.random.default_rng(seed)
    col = {name: i for i, name in enumerate(header)}
    frame = pd.DataFrame([[r[col[c]].strip() for c in ("processid", *RANK_COLUMNS, "bin_uri")] for r in rows])
    frame.columns = ["processid", *RANK_COLUMNS, "bin_uri"]
    barcodes = [barcode_key(r[col["nucleotides"]]) for r in rows]
    clean = (
        np.array([len(b) >= 500 and "N" not in b and frameshift(b) is None for b in barcodes])
        & (frame[["order_name", "family_name", "genus_name", "species_name"]] != "").all(axis=1).to_numpy()
    )
    genera_of_family = frame[clean].groupby("family_name")["genus_name"].unique()
    chosen: set[int] = set()
    planted = []

    def draw(eligible: np.ndarray) -> int:
        pool = np.flatnonzero(eligible & clean & ~np.isin(np.arange(len(rows)), list(chosen)))
        row = int(rng.choice(pool))
        chosen.add(row)
        return row

    orders = frame["order_name"].to_numpy()
    for kind in KINDS:
        for _ in range(per_kind):
            if kind == "genus_swap":
                row = draw(frame["family_name"].map(lambda f: len(genera_of_family.get(f, [])) >= 2).to_numpy())
                genus = rng.choice(
                    [g for g in genera_of_family[frame.at[row, "family_name"]] if g != frame.at[row, "genus_name"]]
                )
                donor = int(rng.choice(np.flatnonzero(clean & (frame["genus_name"] == genus).to_numpy())))
                for c in ("subfamily_name", "genus_name", "species_name"):
                    rows[row][col[c]] = frame.at[donor, c]
                detail = f"{frame.at[row, 'species_name']} → {frame.at[donor, 'species_name']}"
            elif kind in ("order_swap", "foreign_barcode"):
                row = draw(np.ones(len(rows), dtype=bool))
                donor = int(rng.choice(np.flatnonzero(clean & (orders != orders[row]))))
                moved = RANK_COLUMNS if kind == "order_swap" else ("nucleotides", "bin_uri")
                for c in moved:
                    rows[row][col[c]] = rows[donor][col[c]]
                what = "lineage" if kind == "order_swap" else "barcode"
                detail = f"{what} of {frame.at[donor, 'processid']} ({orders[donor]})"
            elif kind == "frameshift":
                row = draw(np.ones(len(rows), dtype=bool))
                seq = barcodes[row]
                at = int(rng.integers(len(seq) // 3, 2 * len(seq) // 3))
                rows[row][col["nucleotides"]] = seq[:at] + "ACGT"[int(rng.integers(4))] + seq[at:]
                detail = f"base inserted after {at}"
            else:
                row = draw(np.ones(len(rows), dtype=bool))
                seq = np.array(list(barcodes[row]))
                sites = rng.choice(len(seq), round(0.025 * len(seq)), replace=False)
                seq[sites] = "N"
                rows[row][col["nucleotides"]] = "".join(seq)
                detail = f"{len(sites)} of {len(seq)} bases set to N"
            planted.append({"processid": frame.at[row, "processid"], "kind": kind, "detail": detail})
    return pd.DataFrame(planted)


def recall(ranked: pd.Series, planted: pd.DataFrame, top: int) -> dict:
    """Share of planted records among the first `top` of `ranked` (processids, most suspect first)."""
    found = planted["processid"].isin(set(ranked.iloc[:top]))
    per_kind = found.groupby(planted["kind"]).mean()
    return {"overall": round(float(found.mean()), 4), **{k: round(float(per_kind[k]), 4) for k in KINDS}}


def baseline(workdir: Path, header: list[str], rows: list[list[str]]) -> tuple[pd.Series, float, float]:
    """VSEARCH top-hit screen: each record against all others (`--self`); flagged when the best other
    record is of another genus or order, ranked by that hit's identity."""
    col = {name: i for i, name in enumerate(header)}
    fasta = workdir / "library.fasta"
    with open(fasta, "w") as handle:
        for r in rows:
            handle.write(f">{r[col['processid']]}\n{barcode_key(r[col['nucleotides']])}\n")
    hits = workdir / "self.b6"
    command = ["vsearch", "--usearch_global", str(fasta), "--db", str(fasta), "--self", "--id", "0.7"]
    command += ["--maxaccepts", "1", "--threads", "2", "--blast6out", str(hits), "--quiet"]
    wall, rss = timed(command)
    found = pd.read_csv(hits, sep="\t", header=None, usecols=[0, 1, 2], names=["query", "hit", "pident"])
    lineage = pd.DataFrame(
        [[r[col["processid"]], r[col["order_name"]], r[col["genus_name"]]] for r in rows],
        columns=["processid", "order", "genus"],
    ).set_index("processid")
    query, hit = lineage.loc[found["query"]].to_numpy(), lineage.loc[found["hit"]].to_numpy()
    flagged = found[(query != hit).any(axis=1)].sort_values("pident", ascending=False, kind="stable")
    return flagged["query"].reset_index(drop=True), wall, rss


def run_audit(library: Path, out: Path, extra: list[str] = ()) -> tuple[float, float]:
    """Wall time and peak memory of `bioscan-hf audit` as a first run (an empty cache: the calibration is
    fitted within the time)."""
    cache = out.parent / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    command = [sys.executable, "-m", "bioscan_hf.cli", "audit", str(library), "--out", str(out), "--quiet"]
    return timed([*command, "--num-proc", "2", *extra], env={**os.environ, "BIOSCAN_HF_CACHE": str(cache)})


def planted_run(workdir: Path, per_kind: int) -> dict:
    header, rows = read_rows(BOLD)
    planted = plant(header, rows, per_kind)
    library = workdir / "planted.tsv.gz"
    write_rows(library, header, rows)
    planted.to_csv(HERE / "audit_planted.tsv", sep="\t", index=False)
    top = math.ceil(TOP_SHARE * len(rows))
    out = workdir / "suspects.tsv"
    wall, rss = run_audit(library, out, ["--min-score", "0", "--overwrite"])
    suspects = pd.read_csv(out, sep="\t")
    flagged, peer_wall, peer_rss = baseline(workdir, header, rows)
    rows_of = suspects.set_index("processid")
    planted_ids = set(planted["processid"])
    placed = planted.assign(
        category=planted["processid"].map(rows_of["category"]),
        position=planted["processid"].map(pd.Series(np.arange(1, len(suspects) + 1), index=suspects["processid"])),
    )
    qc_kinds = placed[placed["kind"].isin(["frameshift", "ambiguous"])]
    natural = suspects[~suspects["processid"].isin(set(planted["processid"])) & (suspects["score"] >= 0.5)]
    sample = natural.groupby("category").head(8).sort_values(["category", "score"], ascending=[True, False])
    sample.to_csv(HERE / "audit_natural_sample.tsv", sep="\t", index=False)
    return {
        "records": len(rows),
        "planted": len(planted),
        "top": top,
        "audit": {
            "recall_top_3pct": recall(suspects["processid"], planted, top),
            "recall_top_1pct": recall(suspects["processid"], planted, math.ceil(len(rows) / 100)),
            "planted_share_of_first_250": round(float(suspects["processid"].iloc[:250].isin(planted_ids).mean()), 4),
            "wall_s": round(wall, 1),
            "peak_rss_gb": round(rss / 1024, 2),
        },
        "vsearch_top_hit": {
            "recall_top_3pct": recall(flagged, planted, top),
            "recall_top_1pct": recall(flagged, planted, math.ceil(len(rows) / 100)),
            "planted_share_of_first_250": round(float(flagged.iloc[:250].isin(planted_ids).mean()), 4),
            "flagged": len(flagged),
            "wall_s": round(peer_wall, 1),
            "peak_rss_gb": round(peer_rss / 1024, 2),
        },
        "barcode_qc_share": round(float((qc_kinds["category"] == "barcode_qc").mean()), 4),
        "categories_by_kind": {
            k: placed[placed["kind"] == k]["category"].fillna("not found").value_counts().to_dict() for k in KINDS
        },
        "median_position_by_kind": {k: float(placed[placed["kind"] == k]["position"].median()) for k in KINDS},
        "natural_suspects": {
            "score_at_least_0.5": len(natural),
            **natural["category"].value_counts().to_dict(),
            "barcode_qc_kinds": natural[natural["category"] == "barcode_qc"]["evidence"]
            .str.split(":")
            .str[0]
            .value_counts()
            .to_dict(),
        },
    }


def scale_run(workdir: Path, records: int = 60_000, seed: int = 1) -> dict:
    """Time and peak memory of an audit of `records` records (the real file plus mutated copies)."""
    rng = np.random.default_rng(seed)
    header, rows = read_rows(BOLD)
    col = {name: i for i, name in enumerate(header)}
    extra = []
    for number, source in enumerate(rng.choice(len(rows), records - len(rows), replace=True)):
        row = list(rows[source])
        seq = np.array(list(barcode_key(row[col["nucleotides"]])))
        sites = rng.choice(len(seq), max(1, round(0.01 * len(seq))), replace=False)
        seq[sites] = rng.choice(list("ACGT"), len(sites))
        row[col["nucleotides"]] = "".join(seq)
        row[col["processid"]] = f"SYNTH{number:06d}-00"
        extra.append(row)
    library = workdir / "scale.tsv.gz"
    write_rows(library, header, rows + extra)
    wall, rss = run_audit(library, workdir / "scale.tsv", ["--overwrite"])
    summary = json.loads((workdir / "scale.summary.json").read_text())
    return {
        "records": records,
        "distinct_barcodes": summary["distinct_barcodes"],
        "wall_s": round(wall, 1),
        "peak_rss_gb": round(rss / 1024, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=50)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--out", default=str(HERE / "audit.json"))
    args = parser.parse_args()
    install_peers()
    workdir = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="bench-audit-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "vsearch": subprocess.run(["vsearch", "--version"], capture_output=True, text=True).stderr.splitlines()[0],
        "planted": planted_run(workdir, args.per_kind),
    }
    if not args.skip_scale:
        report["scale"] = scale_run(workdir)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
