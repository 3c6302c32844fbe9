"""Alignment on both strands and hit statistics in BLAST's terms: a reverse-complemented query finds what
the original finds, described as BLAST describes a minus-strand hit; bitscores are never negative."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import edited, library, require_tools

from bioscan_hf.core.barcodes import reverse_complement
from bioscan_hf.data.sources import Problems, Query
from bioscan_hf.search.align import align, best_local_score, describe
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.references import Reference, read_references

RNG = np.random.default_rng(7)
LIBRARY = library(np.random.default_rng(0))


def test_reverse_complement() -> None:
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement(reverse_complement("ACGGTTCAN")) == "ACGGTTCAN"


def test_best_local_score_is_the_best_stretch_and_never_negative() -> None:
    assert best_local_score("10=") == 10
    assert best_local_score("10=1X10=") == 18  # one mismatch inside two runs of ten: worth bridging
    assert best_local_score("2=5X20=") == 20  # a poor start is left out, as a local alignment would
    assert best_local_score("1=3X1=3X") == 1 and best_local_score("4X2I") == 0


def test_a_reverse_complemented_query_scores_as_the_original_on_the_minus_strand() -> None:
    query = LIBRARY.dna_barcode.iat[5]
    plus, minus = align(query, query), align(reverse_complement(query), query, "-")
    assert (minus.score, minus.identity, minus.strand) == (plus.score, plus.identity, "-")
    stats = describe(reverse_complement(query), query, "-")
    n = len(query)
    assert (stats.qstart, stats.qend, stats.sstart, stats.send) == (1, n, n, 1)  # sstart > send, as BLAST
    assert stats.raw_score == n and stats.pident == 100


def test_identify_searches_both_strands_by_default(tmp_path: Path) -> None:
    reference = Reference(LIBRARY)
    originals = [Query(f"q{i}", sequence=LIBRARY.dna_barcode.iat[i]) for i in (0, 13, 30)]
    flipped = [Query(q.id, sequence=reverse_complement(q.sequence)) for q in originals]
    rows, hits = Identifier(reference).identify(originals, top_k=1)
    flipped_rows, flipped_hits = Identifier(reference).identify(flipped, top_k=1)
    for got, want, hit, flipped_hit in zip(flipped_rows, rows, hits, flipped_hits):
        assert {k: got[k] for k in ("species", "genus", "pident", "species_confidence")} == {
            k: want[k] for k in ("species", "genus", "pident", "species_confidence")
        }
        assert hit["strand"] == "plus" and flipped_hit["strand"] == "minus" and got["strand"] == "minus"
        assert flipped_hit["sstart"] == hit["send"] and flipped_hit["send"] == hit["sstart"] == 1
        assert flipped_hit["bitscore"] == hit["bitscore"] and flipped_hit["evalue"] == hit["evalue"]
    plus_only, _ = Identifier(reference, strand="plus").identify(flipped, top_k=1)
    assert all(row["species"] is None and (row.get("pident") or 0) < 70 for row in plus_only)  # as given: no match


def test_noise_hits_have_blast_statistics_not_negative_scores() -> None:
    noise = "".join(RNG.choice(list("ACGT"), 400))
    _, hits = Identifier(Reference(LIBRARY)).identify([Query("noise", sequence=noise)], top_k=5)
    assert hits and all(hit["bitscore"] >= 0 for hit in hits)
    assert all(hit["evalue"] > 1 for hit in hits)  # chance hits: more than one expected in this library


def test_minus_strand_coordinates_equal_blastn(bold_tsv: Path, tmp_path: Path) -> None:
    """Reverse-complemented real barcodes: where ours and blastn's top hits are the same full-length
    identical reference, every coordinate column is the same."""
    blastn, makeblastdb = require_tools("blastn", "makeblastdb", package="ncbi-blast+")
    table = read_references(bold_tsv, problems=Problems(skip=True))
    keys = table.sample(2000, random_state=1).reset_index(drop=True)
    queries = keys[~keys.dna_barcode.str.contains("N")].sample(40, random_state=2)  # BLAST scores N as a mismatch
    (tmp_path / "keys.fa").write_text("".join(f">{r.processid}\n{r.dna_barcode}\n" for r in keys.itertuples()))
    flipped = [Query(r.processid, sequence=reverse_complement(r.dna_barcode)) for r in queries.itertuples()]
    (tmp_path / "q.fa").write_text("".join(f">{q.id}\n{q.sequence}\n" for q in flipped))
    db = tmp_path / "keys"
    subprocess.run([makeblastdb, "-in", tmp_path / "keys.fa", "-dbtype", "nucl", "-out", db], check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run([blastn, "-query", tmp_path / "q.fa", "-db", db, "-outfmt", "6", "-max_target_seqs", "5",
                    "-dust", "no", "-out", tmp_path / "blast.tsv"], check=True)  # fmt: skip
    columns = ["query", "sseqid", "pident", "length", "mismatch", "gapopen", "qstart", "qend", "sstart", "send"]
    blast = pd.read_csv(tmp_path / "blast.tsv", sep="\t", header=None, usecols=range(10), names=columns)
    blast = blast.drop_duplicates("query").set_index("query")
    _, hits = Identifier(Reference(keys)).identify(flipped, top_k=1)
    ours = pd.DataFrame(hits).set_index("query")
    barcode = keys.set_index("processid").dna_barcode  # a barcode carried by several records: any of them
    same_barcode = ours.sseqid.map(barcode).to_numpy() == blast.sseqid.reindex(ours.index).map(barcode).to_numpy()
    same = ours.index[same_barcode & (ours.pident == 100)]
    assert len(same) >= 25  # the rest: ties BLAST breaks otherwise
    coordinates = ["length", "qstart", "qend", "sstart", "send"]
    pd.testing.assert_frame_equal(ours.loc[same, coordinates], blast.loc[same, coordinates], check_dtype=False)
    assert (ours.loc[same, "sstart"] > ours.loc[same, "send"]).all()


def test_the_minus_strand_is_skipped_only_where_it_cannot_win(bold_tsv: Path, monkeypatch) -> None:
    """`_minus_may_win` leaves a query's minus strand unread only where no reference could make it win, so the
    hits are those of reading both strands of every query: real barcodes as given and reverse complemented,
    each with 0–25% of its bases changed, and random DNA, with counts compared and within a budget."""
    import bioscan_hf.search.shortlist as shortlist_module

    table = read_references(bold_tsv, None, Problems(skip=True)).drop_duplicates("dna_barcode").iloc[:3000]
    reference = Reference(table.reset_index(drop=True))
    rng = np.random.default_rng(11)
    queries = []
    for n, key in enumerate(range(0, len(reference.barcodes), 60)):
        bases = np.array(list(reference.barcodes[key]))
        changed = rng.random(len(bases)) < (n % 6) * 0.05
        bases[changed] = rng.choice(list("ACGT"), int(changed.sum()))
        sequence = "".join(bases)
        queries.append(Query(f"q{n}", sequence=reverse_complement(sequence) if n % 2 else sequence))
    queries += [Query(f"r{n}", sequence="".join(rng.choice(list("ACGT"), 600))) for n in range(5)]
    for budget in (None, 2_000):
        skipped = Identifier(reference, seed_budget=budget).hits(queries)
        with monkeypatch.context() as patch:
            patch.setattr(shortlist_module, "_minus_may_win", lambda *args: True)
            both = Identifier(reference, seed_budget=budget).hits(queries)
        assert skipped == both
        assert {hits[0].strand for hits in skipped.values() if hits} == {"+", "-"}


def _pair(rng) -> tuple[str, str]:
    """Two sequences up to 150 edits apart, one longer by up to 80 bases, sometimes of two bases only (repeats
    put many alignments at one distance) or with N inside, sometimes of very different lengths."""
    alphabet = list("AT") if rng.random() < 0.3 else list("ACGTN")
    a = "".join(rng.choice(alphabet, int(rng.integers(1, 200) if rng.random() < 0.4 else rng.integers(1, 700))))
    b = list(a)
    for _ in range(int(rng.integers(0, 150))):
        at, kind = int(rng.integers(0, len(b) + 1)), rng.integers(3)
        if kind == 0 and at < len(b):
            b[at] = rng.choice(alphabet)
        elif kind == 1:
            b.insert(at, rng.choice(alphabet))
        elif at < len(b):
            del b[at]
    flanks = [rng.choice(alphabet, int(rng.integers(0, 40))) for _ in range(2)]
    return a, "".join(flanks[0]) + "".join(b) + "".join(flanks[1])


def test_the_band_gives_edlibs_distance_wherever_it_holds_it() -> None:
    """`_kernels.band_distance` is exact: edlib's distance where it is within the edits asked for (the band of
    every width it is run at, one word by its own loop), and −1 where it is not, never a smaller number; the
    same with the shorter's rows marked once beforehand (`mark_rows`), which it leaves as they were."""
    import edlib

    from bioscan_hf.search._kernels import band_distance, mark_rows

    rng, masks, compared = np.random.default_rng(11), np.zeros((256, 24), dtype=np.uint64), 0
    for _ in range(1_500):
        shorter, longer = sorted(_pair(rng), key=len)
        if not shorter:
            continue
        true = edlib.align(shorter, longer, mode="HW", task="distance")["editDistance"]
        codes = [np.frombuffer(s.encode(), dtype=np.uint8) for s in (shorter, longer)]
        marked = np.zeros_like(masks)
        mark_rows(codes[0], marked)
        rows = marked.copy()
        for words in (1, 2, 3, 4):
            most = (64 * words - 1 - (len(longer) - len(shorter))) // 2
            for edits in {0, most, min(most, true), min(most, max(0, true - 1))} if most >= 0 else ():
                expected = true if true <= edits else -1
                assert band_distance(*codes, edits, words, masks, False) == expected
                assert band_distance(*codes, edits, words, marked, True) == expected
                compared += 1
        assert np.array_equal(marked, rows)
    assert not masks.any()  # left zeroed
    assert compared > 10_000


def test_the_banded_aligner_aligns_as_align_does() -> None:
    """A search's aligner of one query (`position_aligner` with the references encoded) gives `align`'s
    alignment for every reference, in full and bounded, on either strand, whether its band or edlib does."""
    from bioscan_hf.search.align import position_aligner
    from bioscan_hf.search.bound import encode_barcodes

    rng = np.random.default_rng(12)
    for _ in range(40):
        query = "".join(rng.choice(list("ACGT"), int(rng.integers(60, 700))))
        references = [*_pair(rng), *(edited(query, int(rng.integers(0, 120)), rng) for _ in range(30)), "NNACGTNN"]
        at = int(rng.integers(0, len(query)))
        query = "NN" + query[:at] + "N" + query[at + 1 :]  # padding stripped, an N inside kept
        references += [reverse_complement(r) for r in references[:5]]
        encoded = encode_barcodes(references)
        for strand in "+-":
            aligner = position_aligner(query, references, strand, encoded)
            for p in rng.permutation(len(references)):
                for floor in (None, None, len(query) // 2, len(query) - 40, len(query) - 3 * int(rng.integers(0, 60))):
                    assert aligner(p, floor) == align(query, references[p], strand, floor), (p, floor)


def test_a_shortlist_ranked_in_compiled_loops_gets_the_hits_edlib_gives() -> None:
    """`ranked_alignments` with the references encoded (the band's compiled loops over a shortlist, edlib for what its
    band cannot answer) gives the hits of aligning each reference with edlib alone: in full and bounded, on
    either strand, with and without the shared seeds' rule, continuing a list (a best score given), with empty
    and far references among near ones."""
    from bioscan_hf.search.bound import encode_barcodes
    from bioscan_hf.search.seeds import SharedSeeds
    from bioscan_hf.search.shortlist import ranked_alignments

    rng = np.random.default_rng(13)
    for _ in range(30):
        query = "".join(rng.choice(list("ACGT"), int(rng.integers(100, 700))))
        references = [edited(query, int(rng.integers(0, 40 if rng.random() < 0.7 else 200)), rng) for _ in range(80)]
        references += [*_pair(rng), "NNNN", "".join(rng.choice(list("ACGT"), 650))]
        references = [references[i] for i in rng.permutation(len(references))]
        encoded, positions = encode_barcodes(references), rng.permutation(len(references))
        counts = np.sort(rng.integers(150, 600, len(positions)))[::-1].astype(np.int64)
        for strand in "+-":
            for exact_first, best in ((50, None), (5, None), (0, None), (0, len(query) - 30)):
                for shared in (None, SharedSeeds(counts, int(counts[0]))):
                    arguments = (query, references, positions, strand, exact_first, best, shared)
                    assert ranked_alignments(*arguments, encoded).hits() == ranked_alignments(*arguments).hits(), (
                        strand,
                        exact_first,
                        best,
                    )
