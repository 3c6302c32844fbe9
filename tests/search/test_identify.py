"""The identification engine: shortlist, alignment, calls, sources, damaged input, resume, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import library, mutate

from bioscan_hf.core.errors import MissingFileError
from bioscan_hf.data.sources import CALL_RANKS, Problems, Query, iter_queries, source_digest, taxonomy_from_header
from bioscan_hf.embedding.store import StoredEmbeddings, encoder_fingerprint
from bioscan_hf.search import InputError, identify, read_references
from bioscan_hf.search.align import Alignment, align, describe
from bioscan_hf.search.calls import Hit, call, evidence, photo_call, rank_evidence
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.references import Reference
from bioscan_hf.search.report import summarize
from bioscan_hf.search.seeds import SeedIndex, seed_codes
from bioscan_hf.search.settings import DEFAULT_THRESHOLDS
from bioscan_hf.search.shortlist import ranked_alignments

RNG = np.random.default_rng(0)


LIBRARY = library(RNG)


def test_seed_codes_skip_windows_with_n() -> None:
    assert len(seed_codes("ACGT" * 4)) == 1  # one 16-base window
    assert len(seed_codes("NCGTACGTACGTACGT")) == 0
    assert len(seed_codes("ACGTACGTNCGTACGT")) == 1  # position 8 is one the seed skips
    assert len(seed_codes("ACG")) == 0


def test_batched_seeding_equals_seeding_each_barcode() -> None:
    """The batched seeding (one pass over many barcodes joined) equals seeding each barcode alone: no
    window crosses from one barcode into the next, windows with N or other characters give none."""
    from bioscan_hf.search import seeds

    rng = np.random.default_rng(4)
    barcodes = ["ACG", "", "N" * 30, "ACGTNACGTACGTACGTACGTAC", "ACGT" * 4, "é" * 20 + "ACGT" * 10]
    barcodes += [
        "".join(rng.choice(list("ACGTN"), int(rng.integers(10, 80)), p=[0.24] * 4 + [0.04])) for _ in range(60)
    ]
    rows, codes = seeds._batch_seeds(barcodes)
    for row, barcode in enumerate(barcodes):
        assert list(codes[rows == row]) == list(seed_codes(barcode))
    batch = seeds._SEED_BATCH
    seeds._SEED_BATCH = 7  # the index is built over several batches
    try:
        index = SeedIndex.build(barcodes)
    finally:
        seeds._SEED_BATCH = batch
    assert sorted(index.order.tolist()) == list(range(len(barcodes)))  # each barcode in one slot
    for seed in rng.choice(codes, 20):  # each seed's postings: the slots of the barcodes holding it, ascending
        holders = [r for r, b in enumerate(barcodes) if seed in seed_codes(b)]
        listed = index.postings[index.indptr[seed] : index.indptr[seed + 1]]
        assert list(listed) == sorted(listed) and sorted(index.order[listed].tolist()) == holders


def test_a_seed_index_written_to_a_folder_opens_memory_mapped_with_the_same_shortlists(tmp_path: Path) -> None:
    barcodes = list(dict.fromkeys(LIBRARY["dna_barcode"]))
    queries = [mutate(b, 0.05, np.random.default_rng(i))[10:500] for i, b in enumerate(barcodes[:40])]
    in_memory = SeedIndex.build(barcodes)
    SeedIndex.build(barcodes, folder=tmp_path / "seeds")
    opened = SeedIndex.open(tmp_path / "seeds")
    assert opened.mapping is not None and opened.size == len(barcodes)
    assert all(np.array_equal(a, b) for a, b in zip(in_memory.shortlist(queries, 20), opened.shortlist(queries, 20)))
    (tmp_path / "seeds" / "seeds.json").unlink()  # an interrupted build is never opened
    with pytest.raises(FileNotFoundError, match="no complete seed index"):
        SeedIndex.open(tmp_path / "seeds")


@pytest.mark.damaged_input
@pytest.mark.parametrize("order", [[1, 0, 5], "out of range", "missing"])
def test_a_seed_index_whose_slot_order_is_damaged_is_refused_unread(tmp_path: Path, order) -> None:
    """The compiled kernels read `order` unchecked: a slot order of another size, one naming a barcode past
    the index's, or none, stops the open with what to do, and leaves the folder as it was."""
    barcodes = list(dict.fromkeys(LIBRARY["dna_barcode"]))[:50]
    SeedIndex.build(barcodes, folder=tmp_path / "seeds")
    kept = tmp_path / "seeds" / "order.npy"
    if order == "missing":
        kept.unlink()
    else:
        damaged = np.load(kept)
        if order == "out of range":
            damaged[7] = len(barcodes)
        np.save(kept, damaged if order == "out of range" else np.array(order, dtype=np.int32))
    before = {f.name: f.read_bytes() for f in (tmp_path / "seeds").iterdir()}
    with pytest.raises(FileNotFoundError, match="damaged seed index.*remove that folder"):
        SeedIndex.open(tmp_path / "seeds")
    assert {f.name: f.read_bytes() for f in (tmp_path / "seeds").iterdir()} == before


def _resident_file_kib() -> int:
    """This process's resident file-backed memory (kB), from /proc/self/status."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssFile:")))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssFile from Linux's /proc/self/status")
def test_a_search_of_an_index_on_disk_leaves_its_pages_in_the_page_cache_not_in_the_process(tmp_path: Path) -> None:
    """Mapped pages count in a process's RSS once read: a search releases them (they stay in the OS page
    cache), so a long batch of queries does not end holding the whole index."""
    letters = np.array(list("ACGT"))
    barcodes = ["".join(row) for row in letters[np.random.default_rng(0).integers(0, 4, (5000, 658))]]
    index = SeedIndex.build(barcodes, folder=tmp_path / "seeds")
    kib = index.postings.nbytes // 1024
    index.shortlist(barcodes[:1], 5)  # the first search compiles its counting loop (numba maps its libraries)
    before = _resident_file_kib()
    assert int(index.postings.sum()) > 0  # reads every page
    assert _resident_file_kib() - before > 0.8 * kib
    shortlist = index.shortlist(barcodes[:3], 5)
    assert [list(s[:1]) for s in shortlist] == [[0], [1], [2]]
    assert _resident_file_kib() - before < 0.2 * kib


def test_a_large_library_keeps_its_seed_index_on_disk_with_the_same_calls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Above `ON_DISK_ABOVE` distinct barcodes the index is built once into the cache folder and
    memory-mapped by every later run: the calls are those of the index in memory."""
    from bioscan_hf.search import seeds

    monkeypatch.setenv("BIOSCAN_HF_CACHE", str(tmp_path / "cache"))
    queries = [Query(f"q{i}", sequence=mutate(b, 0.02, np.random.default_rng(i))) for i, b in
               enumerate(LIBRARY["dna_barcode"][::5])]  # fmt: skip
    in_memory = Identifier(Reference(LIBRARY)).identify(queries, top_k=3)
    monkeypatch.setattr(seeds, "ON_DISK_ABOVE", 1)
    first = Reference(LIBRARY)
    assert first.seeds.mapping is not None
    built = list((tmp_path / "cache" / "seeds").iterdir())
    assert len(built) == 1 and (built[0] / "seeds.json").is_file()
    stamp = (built[0] / "postings.npy").stat().st_mtime_ns
    on_disk = Identifier(Reference(LIBRARY), num_proc=2).identify(queries, top_k=3)
    assert (built[0] / "postings.npy").stat().st_mtime_ns == stamp  # opened, not built again
    assert on_disk == in_memory


def test_a_mid_sized_library_reads_its_seed_index_back_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """From `CACHED_FROM` distinct barcodes the index built in memory is saved into the cache folder and
    read back whole by a later run (counted in memory, as built: the same calls); a damaged one is an
    error naming its folder and what to do, never a wrong shortlist."""
    from bioscan_hf.search import seeds

    monkeypatch.setenv("BIOSCAN_HF_CACHE", str(tmp_path / "cache"))
    queries = [Query(f"q{i}", sequence=mutate(b, 0.02, np.random.default_rng(i))) for i, b in
               enumerate(LIBRARY["dna_barcode"][::5])]  # fmt: skip
    built_here = Identifier(Reference(LIBRARY)).identify(queries, top_k=3)
    assert not (tmp_path / "cache" / "seeds").exists()  # a small library: built each run
    monkeypatch.setattr(seeds, "CACHED_FROM", 1)
    first = Reference(LIBRARY)
    assert first.seeds.mapping is None
    (folder,) = (tmp_path / "cache" / "seeds").iterdir()
    stamp = (folder / "postings.npy").stat().st_mtime_ns
    again = Reference(LIBRARY)
    assert again.seeds.mapping is None and np.array_equal(again.seeds.postings, first.seeds.postings)
    assert (folder / "postings.npy").stat().st_mtime_ns == stamp  # read, not built again
    assert Identifier(again).identify(queries, top_k=3) == built_here
    data = (folder / "postings.npy").read_bytes()
    (folder / "postings.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(MissingFileError, match=f"{folder}.*damaged.*remove that folder"):
        Reference(LIBRARY).seeds  # noqa: B018


def test_a_query_reads_its_rarest_seeds_first_within_its_budget(tmp_path: Path) -> None:
    """With a budget below a query's posting entries, the commonest seeds go uncounted: the target (which
    shares the rare seeds) still heads the shortlist, and no more entries are read than the budget allows."""
    barcodes = list(dict.fromkeys(LIBRARY["dna_barcode"]))
    index = SeedIndex.build(barcodes, folder=tmp_path / "seeds")  # on disk: the budgeted reading
    rng = np.random.default_rng(2)
    for target in rng.choice(len(barcodes), 10, replace=False):
        query = mutate(barcodes[target], 0.02, rng)
        codes = seed_codes(query)
        lengths = np.sort(index.indptr[codes + 1] - index.indptr[codes])
        index.budget = int(lengths.sum()) // 4
        assert index.shortlist([query], 5)[0][0] == target
        index.budget = int(lengths.sum())
        exact = index.shortlist([query], 5)[0]
        shared = [len(np.intersect1d(codes, seed_codes(barcodes[k]))) for k in exact]
        assert shared == sorted(shared, reverse=True) and exact[0] == target


def test_shortlist_orders_by_shared_seeds_and_finds_the_alignment_best() -> None:
    barcodes = list(dict.fromkeys(LIBRARY["dna_barcode"]))
    index = SeedIndex.build(barcodes)
    rng = np.random.default_rng(1)
    for _ in range(10):
        target = int(rng.integers(len(barcodes)))
        query = mutate(barcodes[target], 0.03, rng)[20:380]  # a partial, diverged read
        found = index.shortlist([query], 5)[0]
        every = sorted(range(len(barcodes)), key=lambda k: -align(query, barcodes[k]).score)
        assert every[0] in found  # the alignment-best of all references is in the top 5 by seeds
        shared = [len(np.intersect1d(seed_codes(query), seed_codes(barcodes[k]))) for k in found]
        assert shared == sorted(shared, reverse=True)
    assert index.shortlist(["A" * 40], 5) == [] or len(index.shortlist(["A" * 40], 5)[0]) == 0


def test_alignment_score_prefers_full_length_over_short_exact_fragments() -> None:
    full = "".join(RNG.choice(list("ACGT"), 600))
    near = mutate(full, 0.02, RNG)
    fragment = full[100:250]
    assert align(full, fragment).identity == 1.0 and align(full, near).identity == pytest.approx(0.98, abs=0.005)
    assert align(full, near).score > align(full, fragment).score
    assert align("NNNACGTACGTNN", "ACGTACGT").identity == 1.0


def test_alignment_edges_padding_fragments_and_empty_reads() -> None:
    read = "ACGTTGCAAGCTTAGCCATG"
    # N padding is stripped from either side before the shorter sequence is chosen
    assert align("N" * 30 + read, read + "GGCC").identity == 1.0
    assert align(read + "GGCC", "N" * 30 + read).identity == 1.0
    # a reference that is a fragment of the query: the fragment is aligned inside the query
    assert align(read + "TTTTTTTT", read[2:15]) == Alignment(13, 1.0, 13)
    assert align(read, read[:-1] + "A").overlap == len(read)
    # nothing left after stripping: no alignment at all
    assert align("NNNN", read) == Alignment(0, 0.0, 0) and align(read, "") == Alignment(0, 0.0, 0)


def test_hits_tie_break_by_identity_then_position() -> None:
    query = "ACGTACGTAAACCCGGGTTT"
    # same score (20 − 3·1 = 17 for a 20-nt overlap with one edit; 17 for an exact 17-nt fragment),
    # higher identity first; equal hits by position
    references = [query[:-1] + "A", query[:17], query[:17]]
    ranked = [position for position, _ in ranked_alignments(query, references, np.array([0, 2, 1])).hits()]
    assert ranked == [1, 2, 0]


def _confident(**ranks: float) -> dict[str, float]:
    return {rank: ranks.get(rank, 0.99) for rank in CALL_RANKS}


def test_call_edges_no_hits_photos_rules_and_notes() -> None:
    reference = Reference(LIBRARY)
    empty = call([], {rank: None for rank in CALL_RANKS}, _confident(**dict.fromkeys(CALL_RANKS, 0.0)))
    assert all(empty[rank] is None and empty[f"{rank}_confidence"] == 0.0 for rank in CALL_RANKS)
    assert all(empty[f"{rank}_support"] == 0 for rank in CALL_RANKS) and empty["lineage"] == ""
    assert empty["note"] == "no call at order: no reference shares a seed with the query"
    # a photo's neighbours (no identity) vote without calibration: the keys of rows 0 and 2 are two barcodes
    # of Gen00 sp0 (2 + 1 records), the key of row 12 one of Gen01 sp0 (2 records)
    keys = [int(k) for k in pd.factorize(LIBRARY["dna_barcode"])[0][[0, 2, 12]]]
    photo = photo_call(reference, [Hit(k, None, 0.5) for k in keys])
    assert photo["order"] == "Order0" and photo["order_support"] == 5 and photo["order_confidence"] == 0.8333
    assert photo["species"] == "Gen00 sp0" and photo["species_support"] == 3 and photo["note"] == ""
    assert photo["lineage"] == "o:Order0,f:Fam0,g:Gen00,s:Gen00_sp0"
    # the hits within half a point of the best identity vote: 0.975 does, 0.974 does not
    hits = [Hit(keys[0], 0.98, 1.0, 1.0), Hit(keys[1], 0.975, 0.9, 1.0), Hit(keys[2], 0.974, 0.8, 1.0)]
    found = rank_evidence(reference, hits)
    assert (found["species"].label, found["species"].support, found["species"].voters) == ("Gen00 sp0", 3, 3)
    assert found["subfamily"] is None  # no label at this rank: no candidate
    assert found["species"].gap == pytest.approx(0.98 - 0.974)  # to the best hit of another species
    # calibrated rule: exactly at --min-confidence is called; below it is not, with the candidate named
    at = call(hits, found, _confident(species=0.8), min_confidence=0.8)
    assert at["species"] == "Gen00 sp0" and at["species_confidence"] == 0.8 and at["note"] == ""
    assert at["lineage"] == "o:Order0,f:Fam0,g:Gen00,s:Gen00_sp0" and at["subfamily"] is None
    below = call(hits, found, _confident(species=0.7999), min_confidence=0.8)
    assert below["species"] is None and below["genus"] == "Gen00" and below["lineage"] == "o:Order0,f:Fam0,g:Gen00"
    assert below["note"] == (
        "no call at species: confidence 0.80 < 0.8 (best candidate Gen00 sp0); possibly a species missing from "
        "the reference"
    )
    assert "s:Gen00_sp0(0.80)" in below["candidates"] and below["_candidate_species"] == "Gen00 sp0"
    # below an uncalled rank nothing is called, however confident; the BIN is outside the Linnaean chain
    blocked = call(hits, found, _confident(family=0.5), min_confidence=0.8)
    assert blocked["order"] == "Order0" and blocked["family"] is None and blocked["genus"] is None
    assert blocked["species"] is None and blocked["dna_bin"] == "BOLD:000"
    assert blocked["note"].startswith("no call at family: confidence 0.50 < 0.8 (best candidate Fam0)")
    # the fixed rule (--thresholds) reads the best identity only; the confidence shown stays calibrated
    fixed = call(hits, found, _confident(species=0.1), thresholds=DEFAULT_THRESHOLDS)
    assert fixed["species"] == "Gen00 sp0" and fixed["species_confidence"] == 0.1
    genus_only = call(hits, found, _confident(), thresholds={**DEFAULT_THRESHOLDS, "species": 0.985})
    assert genus_only["note"].startswith("no call at species: best identity 98.00% < 98.5%")
    # the BIN alone uncalled leaves no note (the note is about the taxonomy)
    bin_only = call(hits, found, _confident(dna_bin=0.1), min_confidence=0.8)
    assert bin_only["dna_bin"] is None and bin_only["species"] == "Gen00 sp0" and bin_only["note"] == ""
    # a best hit covering too little of the query calls nothing, whatever the rule
    short = [Hit(keys[0], 1.0, 1.0, 0.5)]
    covered = call(short, rank_evidence(reference, short), _confident())
    assert covered["order"] is None and covered["note"].startswith("no call at order: the best hit covers 50.0%")
    assert evidence(reference, [], "order") is None


def test_votes_without_keys_or_labels() -> None:
    reference = Reference(LIBRARY.assign(subfamily=None))
    assert reference.vote([], "species") == (None, 0, 0)
    assert reference.vote([0, 1], "subfamily") == (None, 0, 0)


def test_encoder_shortlist_and_stored_vectors_give_the_seed_calls() -> None:
    from bioscan_hf.embedding.kmer import KmerEncoder

    queries = [Query(f"q{i}", sequence=mutate(b, 0.01, np.random.default_rng(i))) for i, b in
               enumerate(LIBRARY["dna_barcode"][::4])]  # fmt: skip
    seeds = pd.DataFrame(Identifier(Reference(LIBRARY)).identify(queries)[0])
    embedded: list[int] = []

    class CountingKmers(KmerEncoder):
        def embed_dna(self, sequences, progress=True, sort_by_length=True):
            embedded.append(len(sequences))
            return super().embed_dna(sequences, progress, sort_by_length)

    encoder = CountingKmers(5)
    by_model = pd.DataFrame(Identifier(Reference(LIBRARY), encoder=encoder, candidates=8).identify(queries)[0])
    assert embedded == [len(queries), LIBRARY["dna_barcode"].nunique()]  # the queries, then each key barcode once
    pd.testing.assert_frame_equal(by_model, seeds)

    # an embeddings file (`identify --embeddings`) supplies the vectors it holds: keys by their first record,
    # queries by id; only what it lacks is embedded
    keys = LIBRARY.drop_duplicates("dna_barcode")
    stored_ids = [*keys["processid"], *(q.id for q in queries)]
    vectors = encoder.embed_dna([*keys["dna_barcode"], *(q.sequence for q in queries)])
    info = {"fingerprint": encoder_fingerprint(encoder), "model": "kmer5"}
    for held, computed in ((len(stored_ids), []), (len(keys), [len(queries)])):
        file = StoredEmbeddings(
            Path("e.parquet"), info, {"dna": {i: row for row, i in enumerate(stored_ids[:held])}}, {"dna": vectors}
        )
        embedded.clear()
        reused = Identifier(Reference(LIBRARY), encoder=encoder, candidates=8, stored=file).identify(queries)[0]
        assert embedded == computed
        pd.testing.assert_frame_equal(pd.DataFrame(reused), by_model)


def _identify_one(sequence: str, **kwargs) -> dict:
    rows, _ = Identifier(Reference(LIBRARY), **kwargs).identify([Query("q", sequence=sequence)])
    return rows[0]


def test_calls_per_rank_calibrated_or_by_thresholds() -> None:
    exact = _identify_one(LIBRARY["dna_barcode"][0])
    assert exact["species"] == "Gen00 sp0" and exact["pident"] == 100.0 and exact["best_hit"] == "P0000"
    assert exact["species_support"] == 4 and exact["species_confidence"] >= 0.9 and exact["note"] == ""
    assert exact["dna_bin"] == "BOLD:000" and exact["lineage"] == "o:Order0,f:Fam0,g:Gen00,s:Gen00_sp0"
    diverged = _identify_one(mutate(LIBRARY["dna_barcode"][0], 0.03, np.random.default_rng(2)))
    assert diverged["species"] is None and diverged["genus"] == "Gen00" and diverged["order"] == "Order0"
    assert diverged["note"].startswith("no call at species: confidence") and diverged["pident"] == 97.0
    assert diverged["species_confidence"] < exact["species_confidence"]
    unrelated = _identify_one("".join(np.random.default_rng(3).choice(list("ACGT"), 400)))
    assert unrelated["order"] is None and unrelated["species_confidence"] == 0.0
    loose = _identify_one(
        mutate(LIBRARY["dna_barcode"][0], 0.03, np.random.default_rng(2)),
        thresholds={**DEFAULT_THRESHOLDS, "species": 0.9},
    )
    assert loose["species"] == "Gen00 sp0" and loose["species_confidence"] == diverged["species_confidence"]
    eager = _identify_one(mutate(LIBRARY["dna_barcode"][0], 0.03, np.random.default_rng(2)), min_confidence=0.0)
    assert eager["species"] == "Gen00 sp0"


def test_result_and_hit_rows_name_every_field() -> None:
    truth = {rank: f"true {rank}" for rank in CALL_RANKS}
    sequence = LIBRARY["dna_barcode"][0]
    queries = [
        Query("exact", sequence=sequence, truth=truth),
        Query("repeat", sequence=sequence),  # the same barcode again: aligned once, reported twice
        Query("nothing", sequence="ACGT" * 3),  # shares no seed
        Query("near", sequence=mutate(sequence[:300], 7 / 300, np.random.default_rng(4))),
    ]
    rows, hits = Identifier(Reference(LIBRARY)).identify(queries, top_k=2)
    exact, repeat, nothing, near = rows
    # BLAST's per-hit terms: percent identity (two decimals), alignment length, query coverage (percent)
    assert (near["pident"], near["length"], near["qcovs"]) == (97.67, 300, 100.0)  # 7 substitutions in 300
    assert {k: exact[k] for k in ("query", "best_hit", "pident", "length", "qcovs")} == {
        "query": "exact",
        "best_hit": "P0000",
        "pident": 100.0,
        "length": len(sequence),
        "qcovs": 100.0,
    }
    assert {k: exact[f"best_hit_{k}"] for k in CALL_RANKS} == {k: LIBRARY[k].iat[0] for k in CALL_RANKS}
    assert "similarity" not in exact and "hits" not in exact  # no empty or constant columns for barcodes
    assert {k: exact[f"true_{k}"] for k in CALL_RANKS} == truth and "true_order" not in repeat
    assert repeat["query"] == "repeat" and repeat["species"] == exact["species"]
    assert nothing["best_hit"] is None and "pident" not in nothing and nothing["lineage"] == ""
    assert [(h["query"], h["hit"]) for h in hits][:4] == [("exact", 1), ("exact", 2), ("repeat", 1), ("repeat", 2)]
    first, second = hits[:2]
    assert {k: first[k] for k in ("sseqid", "records", "pident", "length", "mismatch", "gapopen", "species")} == {
        "sseqid": "P0000",
        "records": 2,
        "pident": 100.0,
        "length": len(sequence),
        "mismatch": 0,
        "gapopen": 0,
        "species": "Gen00 sp0",
    }
    assert (first["qstart"], first["qend"], first["sstart"], first["send"]) == (1, 400, 1, 400)
    assert first["score"] == len(sequence) and second["score"] < first["score"] and set(first) == set(second)
    assert second["mismatch"] == 2 and second["pident"] == 99.5 and second["bitscore"] < first["bitscore"]
    assert first["evalue"] < 1e-100
    near_hit = [h for h in hits if h["query"] == "near"][0]
    # 7 edits: edlib's fewest-edits path may pair a gap for a substitution (6 mismatches, 1 gap column)
    assert (near_hit["pident"], near_hit["length"]) == (97.67, 300) and near_hit["mismatch"] >= 6
    assert (near_hit["qstart"], near_hit["qend"], near_hit["sstart"]) == (1, 300, 1)


def test_blast_columns_of_an_alignment_with_gaps_and_padding() -> None:
    reference = "".join(np.random.default_rng(5).choice(list("ACGT"), 200))
    query = "NN" + reference[20:100] + reference[103:180]  # 3 bases deleted, inside a partial read
    stats = describe(query, reference)
    assert (stats.gapopen, stats.mismatch, stats.length) == (1, 0, 160)
    assert (stats.qstart, stats.qend, stats.sstart, stats.send) == (3, 159, 21, 180)
    assert stats.pident == round(100 * 157 / 160, 2) and stats.raw_score == 157 - 2.5 * 3


def test_votes_count_records_and_tie_break_by_table_order() -> None:
    table = LIBRARY.iloc[:2].copy()
    table["species"] = ["A a", "B b"]  # one barcode, two names: a 1–1 vote
    row = Identifier(Reference(table)).identify([Query("q", sequence=table["dna_barcode"].iat[0])])[0][0]
    assert row["_candidate_species"] == "A a" and row["species_support"] == 1


def test_a_barcodes_records_keep_table_order_in_a_large_table() -> None:
    """`best_hit` names a barcode's first record and votes tie-break by table order: the records of a barcode
    must stay in table order (an unstable sort shuffles them once a table holds more than a few dozen)."""
    rng = np.random.default_rng(0)
    table = LIBRARY.iloc[rng.choice([0, 2, 4], 300)].reset_index(drop=True)
    table["processid"] = [f"R{i:03d}" for i in range(len(table))]
    reference = Reference(table)
    for key, barcode in enumerate(reference.barcodes):
        rows = reference.records(key).tolist()
        assert rows == list(np.flatnonzero(table["dna_barcode"] == barcode))
    rows, hits = Identifier(reference).identify([Query("q", sequence=table["dna_barcode"].iat[0])])
    assert rows[0]["best_hit"] == "R000" and hits == []  # no hit rows unless top_k asks


def test_sintax_and_bold_fasta_headers() -> None:
    sintax = taxonomy_from_header("X1;tax=k:Animalia,o:Diptera,f:Culicidae,g:Aedes,s:Aedes_aegypti;")
    assert sintax["order"] == "Diptera" and sintax["species"] == "Aedes aegypti" and sintax["genus"] == "Aedes"
    bold = taxonomy_from_header("ABC123-19|Aedes aegypti|COI-5P|BOLD:AAA1234")
    assert bold["species"] == "Aedes aegypti" and bold["genus"] == "Aedes" and bold["dna_bin"] == "BOLD:AAA1234"
    assert taxonomy_from_header("P1|Culicidae|COI-5P")["family"] == "Culicidae"
    assert taxonomy_from_header("P1|Diptera|COI-5P")["order"] == "Diptera"
    assert taxonomy_from_header("P1|Aedes|COI-5P")["genus"] == "Aedes"


def _fasta(path: Path, rows: pd.DataFrame, header) -> Path:
    path.write_text("".join(f">{header(r)}\n{r.dna_barcode[:200]}\n{r.dna_barcode[200:]}\n" for r in rows.itertuples()))
    return path


def test_fasta_reference_and_queries_end_to_end(tmp_path: Path) -> None:
    reference = _fasta(
        tmp_path / "ref.fasta",
        LIBRARY,
        lambda r: f"{r.processid};tax=o:{r.order},g:{r.genus},s:{r.species.replace(' ', '_')};",
    )
    table = read_references(reference)
    assert len(table) == len(LIBRARY) and table["species"].iat[0] == "Gen00 sp0"
    queries = _fasta(tmp_path / "plate.fasta", LIBRARY.iloc[[0, 13]], lambda r: f"q_{r.processid} extra words")
    run = identify(queries, reference, tmp_path / "out.tsv", top_k=2, progress=False)
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    assert list(out["query"]) == ["q_P0000", "q_P0101"]
    assert list(out["species"]) == ["Gen00 sp0", "Gen01 sp0"]
    hits = pd.read_csv(tmp_path / "out.hits.tsv", sep="\t")
    assert len(hits) == 4 and list(hits["hit"]) == [1, 2, 1, 2]
    assert json.loads((tmp_path / "out.summary.json").read_text())[0]["rank"] == "order"
    assert run.results["pident"].iat[0] == 100.0 and "_candidate_species" not in run.results


@pytest.mark.damaged_input
def test_a_reference_file_parsed_whole_is_read_back_from_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference file is parsed (every record checked) once and kept in the cache folder by its content:
    later reads give the same table unparsed; a damaged kept table, a changed file, and a file with skipped
    records (whose skipped list each run writes) are parsed again."""
    from bioscan_hf.search import references

    reference = _fasta(
        tmp_path / "ref.fasta",
        LIBRARY,
        lambda r: f"{r.processid};tax=o:{r.order},g:{r.genus},s:{r.species.replace(' ', '_')};",
    )
    first = read_references(reference, where=True)
    parsed: list[Path] = []
    real = references.iter_fasta
    monkeypatch.setattr(references, "iter_fasta", lambda path, problems: parsed.append(path) or real(path, problems))
    pd.testing.assert_frame_equal(read_references(reference, where=True), first)
    pd.testing.assert_frame_equal(read_references(reference), first.drop(columns="line"))
    assert parsed == []
    kept = references._kept_table_path(reference)
    kept.write_bytes(b"PAR1 damaged")
    pd.testing.assert_frame_equal(read_references(reference, where=True), first)
    assert parsed == [reference]
    pd.testing.assert_frame_equal(read_references(reference, where=True), first)  # kept whole again
    assert parsed == [reference]
    reference.write_text(reference.read_text().replace("s:Gen00_sp0;", "s:Gen00_sp9;", 1))
    changed = read_references(reference)
    assert len(parsed) == 2 and changed["species"].iat[0] == "Gen00 sp9"
    assert changed.drop(columns="species").equals(first.drop(columns=["species", "line"]))
    bad = tmp_path / "bad.fasta"
    bad.write_text(reference.read_text() + ">bad1\nACGTXACGT\n")
    for _ in range(2):
        problems = Problems(skip=True)
        assert read_references(bad, problems=problems).equals(changed)
        assert [(row[2], row[3].split(" at ")[0]) for row in problems.rows] == [("bad1", "not DNA: 'X'")]
    assert parsed[2:] == [bad, bad]


@pytest.mark.damaged_input
def test_damaged_fasta_query_names_file_line_and_record(tmp_path: Path) -> None:
    bad = tmp_path / "plate.fasta"
    bad.write_text(">ok1\nACGTACGTACGTACGTACGT\n>bad2\nACGTXACGT\n>ok3\nACGTACGTACGTACGTAAAA\n")
    with pytest.raises(InputError, match=r"plate.fasta line 3 \(bad2\): not DNA: 'X'.*--skip-bad"):
        list(iter_queries(bad))


@pytest.mark.damaged_input
def test_skip_bad_lists_every_skipped_record(tmp_path: Path) -> None:
    bad = tmp_path / "plate.fasta"
    good = LIBRARY["dna_barcode"][0]
    bad.write_text(f">ok1\n{good}\n>bad2\nACGTXACGT\n>empty3\n---\n>ok1\n{good}\n>ok4\n{good}\n")
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    run = identify(bad, reference, tmp_path / "out.csv", skip_bad=True, progress=False)
    assert list(run.results["query"]) == ["ok1", "ok4"]
    skipped = pd.read_csv(tmp_path / "out.skipped.tsv", sep="\t")
    assert list(skipped["record"]) == ["bad2", "empty3", "ok1"] and list(skipped["line"]) == [3, 5, 7]
    assert "repeated" in skipped["reason"].iat[2] and "skipped 3" in run.report()


@pytest.mark.damaged_input
def test_reference_fasta_without_taxonomy_is_refused(tmp_path: Path) -> None:
    plain = _fasta(tmp_path / "ref.fa", LIBRARY.iloc[:3], lambda r: r.processid)
    with pytest.raises(InputError, match="no FASTA header carries a taxonomy"):
        read_references(plain)


@pytest.mark.damaged_input
def test_query_table_needs_id_and_sequence_columns(tmp_path: Path) -> None:
    table = tmp_path / "plate.tsv"
    table.write_text("well\tdna\nA1\tACGT\n")
    with pytest.raises(InputError, match=r"plate.tsv line 1: need an id column"):
        list(iter_queries(table))
    table.write_text("id\tsequence\nA1\tACGTACGT\nA2\tACGT\textra\n")
    with pytest.raises(InputError, match=r"plate.tsv line 3 \(A2\): 3 fields, expected 2"):
        list(iter_queries(table))


@pytest.mark.damaged_input
def test_bold_tsv_reference_with_a_bad_row(tmp_path: Path, bold_tsv: Path) -> None:
    import gzip

    lines = gzip.open(bold_tsv, "rt", encoding="utf-8").read().splitlines()[:40]
    header = lines[0].split("\t")
    broken = lines[5].split("\t")
    broken[header.index("nucleotides")] = "ACGT?ACGT"
    lines[5] = "\t".join(broken)
    path = tmp_path / "export.tsv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"export.tsv line 6 \({broken[0]}\): not DNA"):
        read_references(path)
    assert len(read_references(path, problems=Problems(skip=True))) >= 30


def _stop_on_second_chunk(queries: Path, reference: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of `identify` (chunks of 2) stopped as it makes the calls of its second chunk, as a killed run
    would be."""
    calls = {"n": 0}
    original = Identifier._calls

    def stop(self, *chunk):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *chunk)

    with monkeypatch.context() as patch:
        patch.setattr(Identifier, "_calls", stop)
        with pytest.raises(KeyboardInterrupt):
            identify(queries, reference, out, chunk_size=2, progress=False)


def test_resume_after_a_stop_reuses_finished_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[::4], lambda r: f"q{r.processid}")
    whole = identify(queries, reference, tmp_path / "whole.parquet", chunk_size=2, progress=False).results
    _stop_on_second_chunk(queries, reference, tmp_path / "run.parquet", monkeypatch)
    assert [p.name for p in sorted((tmp_path / "run.parquet.parts").glob("part-*"))] == ["part-00000.parquet"]
    with pytest.raises(InputError, match="other queries, reference or options"):
        identify(queries, reference, tmp_path / "run.parquet", chunk_size=3, progress=False)
    resumed = identify(queries, reference, tmp_path / "run.parquet", chunk_size=2, progress=False)
    assert resumed.chunks_reused == 1 and not (tmp_path / "run.parquet.parts").exists()
    pd.testing.assert_frame_equal(resumed.results, whole)


@pytest.mark.damaged_input
def test_a_query_far_longer_than_its_hit_is_not_called(tmp_path: Path) -> None:
    """A 10 kb query (one barcode repeated) matches a reference at 100% over 6% of itself: no rank is
    called and the note says why; a partial read (shorter than the references) is still called."""
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    barcode = LIBRARY.dna_barcode.iloc[0]
    queries = tmp_path / "q.fasta"
    queries.write_text(f">long\n{barcode * 15}\n>read\n{barcode[100:500]}\n")
    run = identify(queries, reference, tmp_path / "calls.tsv", top_k=2, progress=False)
    long, read = (run.results.set_index("query").loc[name] for name in ("long", "read"))
    assert long["pident"] == 100.0 and long["qcovs"] < 10 and pd.isna(long["order"]) and pd.isna(long["species"])
    assert long["note"].startswith(f"no call at genus: the best hit covers {long['qcovs']:.1f}% of the query")
    assert read["qcovs"] == 100.0 and read["genus"] == LIBRARY.genus.iloc[0]
    hits = pd.read_csv(tmp_path / "calls.hits.tsv", sep="\t")
    assert set(hits[hits["query"] == "read"]["qcovs"]) == {100.0}


@pytest.mark.damaged_input
def test_a_resume_checks_the_queries_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped, then run again with the same --out after the query file was edited: refused, naming what
    changed (the finished chunks of the old file are never mixed with the new one)."""
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[::4], lambda r: f"q{r.processid}")
    _stop_on_second_chunk(queries, reference, tmp_path / "run.tsv", monkeypatch)
    parts = sorted((tmp_path / "run.tsv.parts").iterdir())
    before = {p.name: p.read_bytes() for p in parts}
    edited = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[1::4], lambda r: f"q{r.processid}")  # same path
    with pytest.raises(InputError, match=r"\(the queries' content changed\); remove that folder"):
        identify(edited, reference, tmp_path / "run.tsv", chunk_size=2, progress=False)
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "run.tsv.parts").iterdir())} == before
    assert not (tmp_path / "run.tsv").exists()
    shutil.rmtree(tmp_path / "run.tsv.parts")
    run = identify(edited, reference, tmp_path / "run.tsv", chunk_size=2, progress=False)
    assert sorted(run.results["query"]) == sorted(f"q{pid}" for pid in LIBRARY.iloc[1::4].processid)
    provenance = json.loads((tmp_path / "run.provenance.json").read_text())
    assert provenance["queries_content"] == source_digest(edited) and provenance["chunk_size"] == 2
    assert provenance["query_split"] is None  # a FASTA has no split: `--split test` was never read


@pytest.mark.damaged_input
def test_chunks_of_an_earlier_version_are_not_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped run whose chunks another version wrote (other hidden columns: `run.CHUNK_FORMAT`) is refused
    with what changed; its chunks are left as they were."""
    from bioscan_hf.search import run as run_module

    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[::4], lambda r: f"q{r.processid}")
    with monkeypatch.context() as patch:
        patch.setattr(run_module, "CHUNK_FORMAT", run_module.CHUNK_FORMAT - 1)
        _stop_on_second_chunk(queries, reference, tmp_path / "run.tsv", monkeypatch)
    before = {p.name: p.read_bytes() for p in sorted((tmp_path / "run.tsv.parts").iterdir())}
    with pytest.raises(InputError, match=r"\(the version of bioscan-hf that wrote its chunks changed\)"):
        identify(queries, reference, tmp_path / "run.tsv", chunk_size=2, progress=False)
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "run.tsv.parts").iterdir())} == before


@pytest.mark.damaged_input
def test_a_run_that_fails_before_any_chunk_leaves_nothing(tmp_path: Path) -> None:
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = tmp_path / "q.fasta"
    queries.write_text(">a\nACGTNOTDNA\n")
    with pytest.raises(InputError, match="q.fasta line 1 \\(a\\): not DNA"):
        identify(queries, reference, tmp_path / "calls.tsv", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.fasta", "ref.fasta"]


def test_two_processes_equal_one_and_filters(tmp_path: Path) -> None:
    reference = _fasta(
        tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid};tax=o:{r.order},g:{r.genus},s:{r.species};"
    )
    queries = _fasta(tmp_path / "q.fasta", LIBRARY, lambda r: f"q{r.processid}")
    one = identify(queries, reference, tmp_path / "one.json", progress=False).results
    two = identify(queries, reference, tmp_path / "two.json", num_proc=2, chunk_size=20, progress=False).results
    pd.testing.assert_frame_equal(one, two)
    assert json.loads((tmp_path / "one.json").read_text())[0]["query"] == "qP0000"
    engine = Identifier(Reference(LIBRARY), num_proc=2)
    records = [Query(p, sequence=b) for p, b in zip(LIBRARY["processid"], LIBRARY["dna_barcode"])]
    first = engine.identify(records)[0]
    engine.close()  # the pool goes; a later call starts another
    assert engine.identify(records)[0] == first
    engine.close()
    within = identify(queries, reference, tmp_path / "w.tsv", within="Order1", progress=False).results
    assert set(within["order"].dropna()) == {"Order1"}
    with pytest.raises(InputError, match="no reference record is within"):
        identify(queries, reference, tmp_path / "x.tsv", within="Lepidoptera", progress=False)


def test_audit_suspects_are_left_out_of_the_reference(tmp_path: Path) -> None:
    """`exclude`: the records of an audit's suspects file (at or above its score floor) leave the reference,
    every other record stays and is searched as before; a file naming none of its records is refused."""
    reference = _fasta(
        tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid};tax=o:{r.order},g:{r.genus},s:{r.species};"
    )
    alone = LIBRARY.drop_duplicates("dna_barcode", keep=False)  # records whose barcode no other record has
    suspect, kept_one = alone["processid"].iat[0], alone["processid"].iat[1]
    queries = _fasta(tmp_path / "q.fasta", alone.iloc[:2], lambda r: f"q{r.processid}")
    suspects = tmp_path / "suspects.tsv"
    pd.DataFrame(
        {"processid": [suspect, kept_one], "category": ["label_conflict", "barcode_qc"], "score": [0.9, 0.3]}
    ).to_csv(suspects, sep="\t", index=False)
    before = identify(queries, reference, tmp_path / "all.tsv", top_k=20, progress=False)
    run = identify(queries, reference, tmp_path / "audited.tsv", top_k=20, exclude=str(suspects), progress=False)
    assert run.references == before.references - 1 and run.excluded == 1  # the other scores under 0.5: kept
    assert f"left out 1 suspect reference record(s) named in {suspects}" in run.report()
    assert before.results["best_hit"].iat[0] == suspect and run.results["best_hit"].iat[0] != suspect
    hits_before = pd.read_csv(tmp_path / "all.hits.tsv", sep="\t")
    hits = pd.read_csv(tmp_path / "audited.hits.tsv", sep="\t")
    assert suspect not in set(hits["sseqid"]) and kept_one in set(hits["sseqid"])
    for query in hits["query"].unique():  # every other reference ranks as before
        kept = hits_before[(hits_before["query"] == query) & (hits_before["sseqid"] != suspect)].head(10)
        now = hits[hits["query"] == query].head(10)
        assert list(zip(kept["sseqid"], kept["pident"])) == list(zip(now["sseqid"], now["pident"]))
    elsewhere = tmp_path / "elsewhere.tsv"
    pd.DataFrame({"processid": ["X1"], "category": ["contamination"], "score": [0.99]}).to_csv(
        elsewhere, sep="\t", index=False
    )
    with pytest.raises(InputError, match="none of its 1 suspects is a record of the reference"):
        identify(queries, reference, tmp_path / "x.tsv", exclude=str(elsewhere), progress=False)
    assert not (tmp_path / "x.tsv").exists()


def test_calibrate_reads_the_library_less_its_suspects(tmp_path: Path) -> None:
    """`calibrate --exclude` fits on the records identify --exclude searches (`read_library`, both)."""
    from bioscan_hf.search.references import read_library
    from bioscan_hf.search.settings import CalibrateSettings

    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid};tax=o:{r.order},g:{r.genus};")
    suspects = tmp_path / "suspects.tsv"
    pd.DataFrame({"processid": ["P0003"], "category": ["contamination"], "score": [0.97]}).to_csv(
        suspects, sep="\t", index=False
    )
    table, left_out = read_library(reference, CalibrateSettings(exclude=str(suspects)))
    assert left_out == 1 and len(table) == len(LIBRARY) - 1 and "P0003" not in set(table["processid"])
    assert read_library(reference, CalibrateSettings(exclude=str(suspects), exclude_min_score=0.98))[1] == 0


def test_summary_matches_a_plain_count() -> None:
    rng = np.random.default_rng(4)
    n = 200
    labels = rng.choice(["a", "b", "c", "new"], n)
    candidate = np.where(rng.random(n) < 0.8, labels, "b")
    confidence = rng.random(n)
    called = np.where(confidence >= 0.3, candidate, None)
    frame = pd.DataFrame(
        {
            "species": called,
            "_candidate_species": candidate,
            "species_confidence": confidence,
            "species_support": 1,
            "true_species": labels,
        }
    )
    for rank in ("order", "family", "subfamily", "genus", "dna_bin"):
        frame[rank], frame[f"_candidate_{rank}"], frame[f"{rank}_confidence"], frame[f"true_{rank}"] = (None,) * 4
    species = summarize(frame, {rank: {"a", "b", "c"} for rank in CALL_RANKS})[4]
    made = [i for i in range(n) if called[i] is not None]
    assert species["coverage"] == pytest.approx(round(len(made) / n, 4))
    assert species["accuracy_of_calls"] == pytest.approx(
        round(sum(called[i] == labels[i] for i in made) / len(made), 4)
    )
    absent = [i for i in range(n) if labels[i] == "new"]  # a species the reference lacks: any call is wrong
    assert species["queries_absent_from_reference"] == len(absent)
    assert species["over_classification"] == pytest.approx(
        round(sum(called[i] is not None for i in absent) / len(absent), 4)
    )
    # the calibration error, counted by hand over ten equal bins of every candidate (called or not)
    bins = np.minimum((confidence * 10).astype(int), 9)
    right = candidate == labels
    ece = sum(abs(right[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).sum() for b in set(bins)) / n
    assert species["expected_calibration_error"] == pytest.approx(round(ece, 4), abs=1e-4)
    assert sum(b["queries"] for b in species["reliability"]) == n


def _cli_identify(dataset: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = ["identify", str(dataset), "--reference", str(dataset), "--out", str(out), *extra]
    return subprocess.run(
        [sys.executable, "-m", "bioscan_hf.cli", *command], capture_output=True, text=True, check=False
    )


def test_cli_identify_on_a_prepared_dataset(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls.tsv"
    done = _cli_identify(prepared, out, "--top-k", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| species |" in done.stdout and "accuracy of calls" in done.stdout
    results = pd.read_csv(out, sep="\t")
    assert {"species", "species_confidence", "species_support", "best_hit", "pident", "note", "true_species"} <= set(
        results.columns
    )
    assert {"lineage", "candidates", "best_hit_species"} <= set(results.columns)
    assert (tmp_path / "calls.reliability.png").read_bytes().startswith(b"\x89PNG")
    summary = json.loads((tmp_path / "calls.summary.json").read_text())
    assert all("expected_calibration_error" in rank for rank in summary if rank["queries"])
    seen = results[results["true_species"].notna()]
    called = seen[seen["species"].notna()]
    assert len(called) >= 3  # the sample reference is too small to calibrate itself: the BOLD default is used
    assert (called["species"] == called["true_species"]).mean() > 0.9  # test species all have reference records
    bad = _cli_identify(prepared, tmp_path / "x.xlsx")
    assert bad.returncode == 1 and "must end in .tsv, .csv, .json, .parquet" in bad.stderr


def test_two_accelerate_processes_share_the_chunks_and_write_the_file_of_one(prepared: Path, tmp_path: Path) -> None:
    from helpers import accelerate_two_processes

    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    common = ["identify", str(prepared), "--reference", str(prepared), "--top-k", "2", "--chunk-size", "7"]
    assert _cli_identify(prepared, one, "--top-k", "2", "--chunk-size", "7").returncode == 0
    launched = subprocess.run(
        accelerate_two_processes(*common, "--out", str(two)), capture_output=True, text=True, timeout=300
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("identified") == 1  # the main process reports
    pd.testing.assert_frame_equal(pd.read_csv(two, sep="\t"), pd.read_csv(one, sep="\t"))
    hits = [pd.read_csv(tmp_path / f"{name}.hits.tsv", sep="\t") for name in ("two", "one")]
    pd.testing.assert_frame_equal(*hits)
    assert not (tmp_path / "two.tsv.parts").exists()


def test_a_barcode_run_imports_no_model_stack() -> None:
    """identify's barcode path needs neither torch nor accelerate nor transformers' models (2–3 s of a short
    run): they are imported by the runs that embed, or launched across processes."""
    code = (
        "import sys\nimport bioscan_hf.search.run, bioscan_hf.search.engine\n"
        "print(sorted(m for m in ('torch', 'accelerate', 'bioscan_hf.embedding.base') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.damaged_input
def test_an_output_file_identify_did_not_write_is_never_replaced(tmp_path: Path, capsys) -> None:
    from bioscan_hf.cli import main

    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[::8], lambda r: f"q{r.processid}")
    mine = tmp_path / "calls.tsv"
    mine.write_text("my own spreadsheet\n")
    args = ["identify", str(queries), "--reference", str(reference), "--out", str(mine)]
    assert main(args) == 1
    assert f"{mine} exists and was not written by bioscan-hf identify; nothing was written" in capsys.readouterr().err
    assert mine.read_text() == "my own spreadsheet\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "calls.tsv",
        "q.fasta",
        "ref.fasta",
    ]
    assert main([*args, "--overwrite"]) == 0 and "query\t" in mine.read_text()
    assert main(args) == 0  # its own output now: replaced by the complete new table
    assert not list(tmp_path.glob("*.partial"))
