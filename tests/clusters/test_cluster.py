"""`bioscan-hf cluster`: BIN-like clusters on the neighbour graph, their ids, agreement measures and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bioscan_hf.cli import main
from bioscan_hf.clusters import cluster
from bioscan_hf.clusters.linkage import LINK_DISTANCE, clusters_of
from bioscan_hf.clusters.run import bin_agreement
from tests.helpers import library


def _fasta(path: Path, rows: pd.DataFrame) -> Path:
    """A FASTA with BOLD headers (processid|species|COI-5P|BIN): labels for the consensus."""
    path.write_text(
        "".join(f">{r.processid}|{r.species}|COI-5P|{r.dna_bin}\n{r.dna_barcode}\n" for r in rows.itertuples())
    )
    return path


def test_species_become_one_cluster_each_with_stable_ids(tmp_path: Path) -> None:
    """Species 6% apart, haplotypes 0.5% apart: one cluster per species, its consensus naming it; the same
    clusters get the same ids from the records in another order."""
    table = library(np.random.default_rng(1))
    run = cluster(_fasta(tmp_path / "lib.fasta", table), tmp_path / "c.tsv", progress=False)
    assert len(run.clusters) == table["species"].nunique() == 12
    joined = run.records.assign(species=table["species"].to_numpy())
    assert (joined.groupby("cluster")["species"].nunique() == 1).all()
    assert set(run.clusters["species"]) == set(table["species"]) and (run.clusters["agreement"] == 1.0).all()
    assert run.summary["bins"]["match_ratio"] == 1.0 and run.summary["bins"]["ami"] == 1.0
    assert (run.clusters["max_within"] <= LINK_DISTANCE).all() and (run.clusters["nearest_distance"] > 0.05).all()
    assert run.clusters["cluster"].str.fullmatch(r"BHF-[0-9a-f]{8,}").all()
    shuffled = table.sample(frac=1.0, random_state=3)
    again = cluster(_fasta(tmp_path / "shuffled.fasta", shuffled), tmp_path / "d.tsv", progress=False)
    first = dict(zip(run.records["processid"], run.records["cluster"]))
    assert dict(zip(again.records["processid"], again.records["cluster"])) == first
    for name in ("c.tsv", "c.clusters.tsv", "c.summary.json", "c.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert pd.read_csv(tmp_path / "c.tsv", sep="\t").columns[:2].tolist() == ["processid", "cluster"]


@pytest.mark.parametrize("n_core", [8, 80])
def test_refinement_splits_two_groups_joined_by_a_chain(n_core: int, monkeypatch) -> None:
    """Two tight groups 4% apart, joined by a chain of single barcodes 1.5% apart: single linkage makes one
    cluster of them (chaining); the refinement splits the two groups. With 80 per group MCL's flow goes
    sparse once pruned (`linkage.SPARSE_BELOW`), and the split is the same."""
    from bioscan_hf.clusters import linkage

    went_sparse, inflated = [], linkage._inflated
    monkeypatch.setattr(linkage, "_inflated", lambda m, i: went_sparse.append(sp.issparse(m)) or inflated(m, i))
    rng = np.random.default_rng(0)
    distances, rows, cols = [], [], []
    a_group, b_group = range(0, n_core), range(n_core, 2 * n_core)
    chain = (2 * n_core, 2 * n_core + 1)  # A - c1 - c2 - B
    for group in (a_group, b_group):
        for i in group:
            for j in group:
                if i < j:
                    rows.append(i), cols.append(j), distances.append(rng.uniform(0.0, 0.005))
    for a, b in ((3, chain[0]), chain, (chain[1], n_core + 3)):
        rows.append(a), cols.append(b), distances.append(0.015)
    for i in a_group:
        for j in b_group:
            rows.append(i), cols.append(j), distances.append(0.04)
    rows, cols, distances = np.array(rows), np.array(cols), np.array(distances)
    single = clusters_of(rows, cols, distances, 2 * n_core + 2, refined=False)
    assert len(set(single)) == 1
    refined = clusters_of(rows, cols, distances, 2 * n_core + 2)
    assert len({refined[i] for i in a_group}) == 1 and len({refined[i] for i in b_group}) == 1
    assert refined[0] != refined[n_core]
    assert any(went_sparse) == (n_core == 80)


def test_components_refined_in_two_processes_give_the_same_clusters() -> None:
    """Components shared among worker processes (`num_proc`; the largest first) are numbered as one process
    numbers them: several components, each two groups joined by a chain, refined alike."""
    rng = np.random.default_rng(1)
    rows, cols, distances, start = [], [], [], 0
    for n_core in (6, 30, 9, 18, 12):
        ends = []
        for group in (range(start, start + n_core), range(start + n_core, start + 2 * n_core)):
            pairs = [(i, j) for i in group for j in group if i < j]
            rows += [i for i, _ in pairs]
            cols += [j for _, j in pairs]
            distances += list(rng.uniform(0.0, 0.005, len(pairs)))
            ends.append(group[0])
        rows += [ends[0], start + 2 * n_core, start + 2 * n_core + 1]  # A - c1 - c2 - B
        cols += [start + 2 * n_core, start + 2 * n_core + 1, ends[1]]
        distances += [0.015] * 3
        start += 2 * n_core + 2
    rows, cols, distances = np.array(rows), np.array(cols), np.array(distances)
    alone = clusters_of(rows, cols, distances, start)
    assert len(set(clusters_of(rows, cols, distances, start, refined=False))) == 5
    assert len(set(alone)) > 5  # components split
    assert np.array_equal(clusters_of(rows, cols, distances, start, num_proc=2), alone)


def test_bin_agreement_counts_exact_splits_and_merges() -> None:
    truth = pd.Series(["B1", "B1", "B2", "B2", "B3", "B3", None])
    found = pd.Series(["c1", "c1", "c2", "c3", "c4", "c4", "c9"])
    measured = bin_agreement(truth, found)
    assert measured["bins"] == 3 and measured["match_ratio"] == pytest.approx(2 / 3, abs=1e-4)
    assert measured["split_bins"] == 1 and measured["merged_clusters"] == 0
    merged = bin_agreement(truth, pd.Series(["c1", "c1", "c1", "c1", "c4", "c4", "c9"]))
    assert merged["match_ratio"] == pytest.approx(1 / 3, abs=1e-4) and merged["merged_clusters"] == 1


@pytest.mark.damaged_input
def test_bad_records_are_named_or_skipped_and_files_of_others_kept(tmp_path: Path, capsys) -> None:
    """A record that is not DNA stops the run naming its line and id (nothing written); `--skip-bad` leaves it
    out and lists it; a file of the user's at OUT is never replaced."""
    table = library(np.random.default_rng(2)).iloc[:16]
    bad = 6  # a record of its own barcode (the first two haplotypes of a species share theirs)
    damaged = table.assign(dna_barcode=table.dna_barcode.where(table.index != bad, "ACGT" + "J" * 20 + "ACGT" * 50))
    fasta = _fasta(tmp_path / "plate.fasta", damaged)
    before = fasta.read_bytes()
    args = ["cluster", str(fasta), "--out", str(tmp_path / "c.tsv")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "plate.fasta" in err and "line 13" in err and table.processid.iloc[bad] in err and "--skip-bad" in err
    assert not (tmp_path / "c.tsv").exists() and fasta.read_bytes() == before
    assert main([*args, "--skip-bad"]) == 0
    records = pd.read_csv(tmp_path / "c.tsv", sep="\t")
    assert len(records) == 15 and table.processid.iloc[bad] not in set(records["processid"])
    skipped = pd.read_csv(tmp_path / "c.skipped.tsv", sep="\t")
    assert skipped["record"].tolist() == [table.processid.iloc[bad]] and skipped["line"].tolist() == [13]
    assert json.loads((tmp_path / "c.summary.json").read_text())["skipped"] == 1
    mine = tmp_path / "mine.tsv"
    mine.write_text("my notes\n")
    assert main(["cluster", str(fasta), "--out", str(mine), "--skip-bad"]) == 1
    assert "was not written by bioscan-hf cluster" in capsys.readouterr().err and mine.read_text() == "my notes\n"


def test_a_registry_keeps_its_ids_and_mints_new_ones_for_new_species(tmp_path: Path) -> None:
    """Run 1 clusters 9 species; run 2, with run 1's registry, gets more records of those species (they join
    their clusters, whose ids stay) and the records of 3 species run 1 never saw (new clusters, new ids)."""
    table = library(np.random.default_rng(7))
    seen_species = sorted(table["species"].unique())[:9]
    first_plate = table[table["species"].isin(seen_species) & table["processid"].str.endswith(("0", "1", "2"))]
    second_plate = table.drop(first_plate.index)
    first = cluster(_fasta(tmp_path / "one.fasta", first_plate), tmp_path / "one.tsv", progress=False)
    registry = tmp_path / "one.registry.parquet"
    assert registry.is_file() and len(pd.read_parquet(registry)) == len(first_plate)
    before = registry.read_bytes()
    second = cluster(
        _fasta(tmp_path / "two.fasta", second_plate), tmp_path / "two.tsv", registry=str(registry), progress=False
    )
    assert registry.read_bytes() == before  # the registry read is never changed
    species_cluster = dict(zip(first_plate["species"], first.records["cluster"]))
    for species, cluster_id in zip(second_plate["species"], second.records["cluster"]):
        if species in species_cluster:
            assert cluster_id == species_cluster[species]  # joined, id kept
        else:
            assert cluster_id not in set(first.records["cluster"])  # a new species: a new id
    status = dict(zip(second.clusters["cluster"], second.clusters["status"]))
    new_ids = set(second.records["cluster"][~second_plate["species"].isin(seen_species).to_numpy()])
    assert len(new_ids) == 3 and all(status[c] == "new" for c in new_ids)
    assert second.summary["registry"] == {"read": str(registry), "new_clusters": 3, "merges": 0, "splits": 0}
    assert len(pd.read_parquet(tmp_path / "two.registry.parquet")) == len(table)


def test_merges_and_splits_are_reported() -> None:
    from bioscan_hf.clusters.registry import carry_ids

    registered = pd.Series(["A", "A", "A", "B", "C", "C", "C", "C", None, None])
    found = pd.Series(["x", "x", "x", "x", "y", "y", "z", "z", "z", "w"])
    final, changes = carry_ids(found, registered)
    # x holds A (3) and B (1): a merge keeping A; C is split between y and z (2 each): y keeps it (first by
    # name among equals), z gets its own id; w holds no old member: new
    assert final.tolist() == ["A", "A", "A", "A", "C", "C", "z", "z", "z", "w"]
    assert changes.to_dict("records") == [
        {"change": "merge", "cluster": "A", "with": "B"},
        {"change": "split", "cluster": "C", "with": "z"},
    ]


def test_identify_places_each_query_among_the_registry_clusters(tmp_path: Path, capsys) -> None:
    """`identify --clusters REGISTRY`: a query of a registered species gets its cluster; the queries of each
    species the registry lacks share one `new:N`, another species another."""
    table = library(np.random.default_rng(8))
    seen_species = sorted(table["species"].unique())[:9]
    library_rows = table[table["species"].isin(seen_species) & ~table["processid"].str.endswith("3")]
    queries = table.drop(library_rows.index)
    reference = _fasta(tmp_path / "lib.fasta", library_rows)
    registered = cluster(reference, tmp_path / "lib.tsv", progress=False)
    plate = _fasta(tmp_path / "plate.fasta", queries)
    out = tmp_path / "calls.tsv"
    args = ["identify", str(plate), "--reference", str(reference), "--out", str(out)]
    assert main([*args, "--clusters", str(tmp_path / "lib.registry.parquet")]) == 0
    assert "putative new species" in capsys.readouterr().out
    placed = pd.read_csv(tmp_path / "calls.clusters.tsv", sep="\t").set_index("query")
    species_cluster = dict(zip(library_rows["species"], registered.records["cluster"]))
    new_names: dict[str, str] = {}
    for query, species in zip(queries["processid"], queries["species"]):
        if species in species_cluster:
            assert (
                placed.loc[query, "cluster"] == species_cluster[species] and placed.loc[query, "status"] == "registered"
            )
        else:
            assert placed.loc[query, "cluster"].startswith("new:") and placed.loc[query, "status"] == "new"
            assert new_names.setdefault(species, placed.loc[query, "cluster"]) == placed.loc[query, "cluster"]
    assert len(set(new_names.values())) == 3


def test_two_accelerate_processes_share_the_graph_and_write_the_files_of_one(tmp_path: Path) -> None:
    """Under `accelerate launch` both processes search the neighbour graph (each its parts, into a cache of
    their own here) and the main one clusters and writes: the files one process writes, reported once."""
    import os
    import subprocess
    import sys

    from tests.helpers import accelerate_two_processes

    fasta = _fasta(tmp_path / "lib.fasta", library(np.random.default_rng(1)))
    runs = {}
    for name, launched in (("one", False), ("two", True)):
        command = ["cluster", str(fasta), "--out", str(tmp_path / f"{name}.tsv")]
        argv = accelerate_two_processes(*command) if launched else [sys.executable, "-m", "bioscan_hf.cli", *command]
        env = {**os.environ, "BIOSCAN_HF_CACHE": str(tmp_path / f"cache-{name}")}  # each builds its graph
        runs[name] = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        assert runs[name].returncode == 0, runs[name].stderr[-3000:]
    assert runs["two"].stdout.count("registry for the next run") == 1  # the main process reports
    for suffix in (".tsv", ".clusters.tsv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / f"two{suffix}", sep="\t"), pd.read_csv(tmp_path / f"one{suffix}", sep="\t")
        )
    assert len(list((tmp_path / "cache-two" / "graphs").glob("*/part-*.parquet"))) >= 1


def test_a_barcode_another_contains_joins_its_cluster_unsearched(tmp_path: Path, monkeypatch) -> None:
    """Shorter reads of a species' barcode (cut at either end) are searched no further: the graph `cluster`
    builds has no row of theirs, they join the cluster of the barcode containing them, and every other record
    is clustered as without them. Where a whole graph of the library is there already (an audit's), its rows of
    the others are taken instead of a search, and the clusters are the same."""
    from bioscan_hf.clusters.run import read_barcodes
    from bioscan_hf.data.sources import Problems
    from bioscan_hf.search.contained import containers
    from bioscan_hf.search.graph import neighbour_graph
    from bioscan_hf.search.references import Reference

    table = library(np.random.default_rng(1))
    alone = cluster(_fasta(tmp_path / "lib.fasta", table), tmp_path / "a.tsv", progress=False)
    donors = table.iloc[[0, 13, 30]]
    cuts = donors.assign(
        processid=[f"CUT{n}" for n in range(3)],
        dna_barcode=[
            donors.iloc[0].dna_barcode[25:],
            donors.iloc[1].dna_barcode[:330],
            donors.iloc[2].dna_barcode[9:300],
        ],
    )
    both = pd.concat([table, cuts], ignore_index=True)
    run = cluster(_fasta(tmp_path / "both.fasta", both), tmp_path / "b.tsv", progress=False)
    assert run.summary["contained_barcodes"] == 3 and alone.summary["contained_barcodes"] == 0
    cluster_of = dict(zip(run.records["processid"], run.records["cluster"]))
    for cut, donor in zip(cuts["processid"], donors["processid"]):
        assert cluster_of[cut] == cluster_of[donor]
    assert {p: cluster_of[p] for p in table["processid"]} == dict(
        zip(alone.records["processid"], alone.records["cluster"])
    )
    reference = Reference(read_barcodes(tmp_path / "both.fasta", None, Problems(skip=False)))  # as `cluster` reads it
    contained = np.flatnonzero(containers(reference.barcodes, reference.seeds, reference.encoded) >= 0)
    assert {reference.barcodes[k] for k in contained} == set(cuts["dna_barcode"])
    graph = neighbour_graph(reference, 201, progress=False, skip_contained=True)
    assert all(not graph[k] for k in contained) and all(graph[k] for k in range(len(graph)) if k not in contained)
    monkeypatch.setenv("BIOSCAN_HF_CACHE", str(tmp_path / "cache"))
    whole = neighbour_graph(reference, 201, progress=False)
    assert all(whole[k] for k in range(len(whole)))
    again = cluster(_fasta(tmp_path / "both.fasta", both), tmp_path / "c.tsv", progress=False)
    assert again.records["cluster"].tolist() == run.records["cluster"].tolist()
    assert [p.name.endswith("-x-v1") for p in (tmp_path / "cache" / "graphs").iterdir()] == [False]
