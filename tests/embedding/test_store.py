"""`bioscan-hf embed`: embeddings written once to Parquet, read back equal, reused by evaluate, index and
identify (checked to be the same model), damaged inputs named, and 2 accelerate processes = 1."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
from helpers import accelerate_two_processes, tiny_clibd_folder

from bioscan_hf.cli import main
from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.embedding.kmer import KmerEncoder
from bioscan_hf.embedding.store import embed_to_parquet, read_embeddings


def _vectors(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    frame = pd.read_parquet(path)
    return frame["id"].tolist(), frame["modality"].tolist(), np.stack(frame["embedding"].to_numpy())


def test_embed_a_split_reads_back_equal_and_opens_with_load_dataset(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "keys.parquet"
    assert main(["embed", str(prepared), "--split", "train,key_unseen", "--model", "kmer4", "--out", str(out)]) == 0
    data = load_prepared(prepared)
    records = datasets.concatenate_datasets([data["train"], data["key_unseen"]])
    ids, modalities, vectors = _vectors(out)
    assert ids == records["processid"][:] and set(modalities) == {"dna"}
    np.testing.assert_array_equal(vectors, KmerEncoder(4).embed_dna(records["dna_barcode"][:]))
    stored = read_embeddings(out)
    assert stored.info["model"] == "kmer4" and stored.info["dims"] == {"dna": 256}
    opened = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert opened.num_rows == len(ids) and len(opened[0]["embedding"]) == 256


def test_evaluate_and_index_read_stored_vectors_instead_of_embedding(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bioscan_hf.evaluation.encoders import evaluate_dna
    from bioscan_hf.search import Searcher, build_index

    stored = tmp_path / "e.parquet"
    embed_to_parquet(prepared, "kmer4", stored, split="train,key_unseen,test_unseen")
    plain = evaluate_dna(prepared, "kmer4", tmp_path / "plain", tasks=("knn",))
    plain_index = build_index(prepared, "kmer4", tmp_path / "plain-index")

    def refuse(*args, **kwargs):
        raise AssertionError("embedded again although the file holds these records")

    monkeypatch.setattr(KmerEncoder, "embed_dna", refuse)
    reused = evaluate_dna(prepared, "kmer4", tmp_path / "reused", tasks=("knn",), embeddings=stored)
    assert reused == plain
    assert json.loads((tmp_path / "reused" / "run.json").read_text())["embeddings"] == str(stored)
    index = build_index(prepared, "kmer4", tmp_path / "index", embeddings=stored)
    monkeypatch.undo()
    barcode = load_prepared(prepared)["test"]["dna_barcode"][0]
    found, expected = Searcher(index).search_dna(barcode, 5), Searcher(plain_index).search_dna(barcode, 5)
    pd.testing.assert_frame_equal(found.neighbours, expected.neighbours)


def test_embeddings_of_another_model_are_refused(prepared: Path, tmp_path: Path) -> None:
    stored = tmp_path / "k4.parquet"
    embed_to_parquet(prepared, "kmer4", stored, split="train")
    from bioscan_hf.evaluation.encoders import evaluate_dna

    with pytest.raises(ValueError, match=r"holds embeddings of kmer4 .* not of kmer5: pass --model kmer4"):
        evaluate_dna(prepared, "kmer5", tmp_path / "eval", tasks=("knn",), embeddings=stored)
    assert main(["index", "--dataset", str(prepared), "--model", "kmer5", "--embeddings", str(stored),
                 "--out", str(tmp_path / "i")]) == 1  # fmt: skip


@pytest.mark.damaged_input
def test_damaged_fasta_stops_or_is_listed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fasta = tmp_path / "plate.fasta"
    fasta.write_text(">A1\nACGTACGTACGTAACCGGTT\n>B2\nACGTXXXXHELLO\n>C3\nTTGGCCAAACGTACGTACGT\n")
    out = tmp_path / "plate.parquet"
    assert main(["embed", str(fasta), "--model", "kmer4", "--out", str(out)]) == 1
    assert f"{fasta} line 3 (B2)" in capsys.readouterr().err and not out.exists()
    assert main(["embed", str(fasta), "--model", "kmer4", "--out", str(out), "--skip-bad"]) == 0
    assert "1 record(s) left out, listed in" in capsys.readouterr().out
    assert _vectors(out)[0] == ["A1", "C3"]
    skipped = pd.read_csv(tmp_path / "plate.skipped.tsv", sep="\t")
    assert skipped[["line", "record"]].values.tolist() == [[3, "B2"]]


def _photo_folder(prepared: Path, folder: Path, count: int = 6) -> list[str]:
    """The first `count` test photos of the prepared sample as JPEG files named by processid, plus a
    broken file; the ids of the good ones."""
    folder.mkdir()
    rows = load_prepared(prepared, "cropped_256")["test"].select(range(count))
    for row in rows:
        buffer = io.BytesIO()
        row["image"].save(buffer, format="JPEG")
        (folder / f"{row['processid']}.jpg").write_bytes(buffer.getvalue())
    (folder / "zz-broken.jpg").write_bytes(b"not a jpeg at all")
    return rows["processid"][:]


@pytest.mark.damaged_input
def test_photo_queries_identified_with_clibd_and_stored_embeddings_reused(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tiny_clibd_folder(tmp_path / "clibd", seed=0)
    ids = _photo_folder(prepared, tmp_path / "photos")
    out = tmp_path / "photos.tsv"
    args = ["identify", str(tmp_path / "photos"), "--reference", str(prepared), "--model", str(model)]
    assert main([*args, "--out", str(out)]) == 1
    assert "zz-broken.jpg (zz-broken): not a readable image" in capsys.readouterr().err
    assert main([*args, "--out", str(out), "--skip-bad", "--top-k", "3"]) == 0
    results = pd.read_csv(out, sep="\t")
    assert sorted(results["query"]) == sorted(ids)
    assert "pident" not in results and results["similarity"].notna().all()
    assert results["order"].notna().all() and (results["order_confidence"] > 0).all()  # neighbours vote
    assert pd.read_csv(tmp_path / "photos.skipped.tsv", sep="\t")["record"].tolist() == ["zz-broken"]
    hits = pd.read_csv(tmp_path / "photos.hits.tsv", sep="\t")
    assert hits.groupby("query").size().tolist() == [3] * len(ids)
    best = hits[hits["hit"] == 1].set_index("query")["score"]  # a photo's best hit: its cosine, 4 decimals
    assert results.set_index("query")["similarity"].to_dict() == best.round(4).to_dict()
    assert best.between(-1, 1).all() and (best.round(4) != best.round(0)).any()

    # the photos and the reference barcodes embedded once, then read by identify
    photos = tmp_path / "photos.parquet"
    assert main(["embed", str(tmp_path / "photos"), "--model", str(model), "--out", str(photos), "--skip-bad"]) == 0
    assert _vectors(photos)[1] == ["image"] * len(ids)
    again = tmp_path / "again.tsv"
    assert main([*args, "--out", str(again), "--skip-bad", "--embeddings", str(photos)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again, sep="\t"), results)

    # photo keys: the photos matched to the reference photos of an index folder, with the index's model
    from bioscan_hf.search import build_index

    index = build_index(prepared, str(model), tmp_path / "index")
    keyed = tmp_path / "keyed.tsv"
    queries = [str(tmp_path / "photos"), "--reference", str(index), "--skip-bad", "--top-k", "2"]
    assert main(["identify", *queries, "--photo-keys", "--out", str(keyed)]) == 0
    by_photo = pd.read_csv(keyed, sep="\t")
    assert sorted(by_photo["query"]) == sorted(ids) and by_photo["similarity"].notna().all()
    key_ids = set(pd.read_parquet(index / "keys.parquet")["processid"])
    assert set(pd.read_csv(tmp_path / "keyed.hits.tsv", sep="\t")["sseqid"]) <= key_ids
    assert main(["identify", *queries, "--photo-keys", "--model", str(model), "--out", str(keyed)]) == 1
    assert "leave out --model" in capsys.readouterr().err
    assert main(["identify", *args[1:4], "--photo-keys", "--skip-bad", "--out", str(keyed)]) == 1
    assert "--photo-keys needs an index folder with reference photos" in capsys.readouterr().err


def test_two_accelerate_processes_write_the_file_of_one(prepared: Path, tmp_path: Path) -> None:
    model = tiny_clibd_folder(tmp_path / "clibd", seed=1)
    common = [str(prepared), "--split", "test", "--model", str(model), "--modality", "both", "--device", "cpu"]
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert main(["embed", *common, "--out", str(one)]) == 0
    launched = subprocess.run(
        accelerate_two_processes("embed", *common, "--out", str(two)), capture_output=True, text=True, timeout=300
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "written to" in launched.stdout and "by 2 process(es)" in launched.stdout
    ids_one, modalities_one, vectors_one = _vectors(one)
    ids_two, modalities_two, vectors_two = _vectors(two)
    test = load_prepared(prepared)["test"]
    assert modalities_one.count("dna") == modalities_one.count("image") == test.num_rows
    assert (ids_two, modalities_two) == (ids_one, modalities_one)
    np.testing.assert_allclose(vectors_two, vectors_one, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "two.parquet.parts").exists()


@pytest.mark.damaged_input
def test_embed_never_replaces_a_file_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">a\nACGTACGTTGCAACGT\n>b\nTTGCAACGTACGTACG\n")
    mine = tmp_path / "mine.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(mine)
    before = mine.read_bytes()
    args = ["embed", str(fasta), "--model", "kmer3", "--out", str(mine)]
    assert main(args) == 1
    assert f"{mine} exists and was not written by bioscan-hf embed; nothing was written" in capsys.readouterr().err
    assert mine.read_bytes() == before
    assert main([*args, "--overwrite"]) == 0 and main(args) == 0  # then it is an embeddings file: replaced
    assert len(pd.read_parquet(mine)) == 2
