"""The sequence files people keep (`bioscan_hf.data.sources`): ids that would become paths and control
characters are refused with file, line and id, or listed when the user asked to skip."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bioscan_hf.core.errors import InputError
from bioscan_hf.data.sources import Problems, iter_queries

BARCODE = "ACGTTGCA" * 10


@pytest.mark.damaged_input
def test_fasta_ids_and_headers(tmp_path: Path) -> None:
    fasta = tmp_path / "plate.fasta"
    fasta.write_text(f">ok1\n{BARCODE}\n>../../escape\n{BARCODE}\n>ok2 note\x1b[31m\n{BARCODE}\n>ok3\n{BARCODE}\n")
    before = fasta.read_bytes()
    with pytest.raises(InputError, match=r"plate.fasta line 3 \(\.\./\.\./escape\): the id '\.\./\.\./escape' holds "):
        list(iter_queries(fasta))
    problems = Problems(skip=True)
    assert [q.id for q in iter_queries(fasta, problems=problems)] == ["ok1", "ok3"]
    assert [(line, record, reason) for _, line, record, reason in problems.rows] == [
        (3, "../../escape", "the id '../../escape' holds '..' at position 0"),
        (5, "ok2", "the header holds a control character '\\x1b' at position 8"),
    ]
    assert fasta.read_bytes() == before


@pytest.mark.damaged_input
def test_table_ids(tmp_path: Path) -> None:
    table = tmp_path / "plate.tsv"
    table.write_text(f"id\tsequence\nok\t{BARCODE}\nsub/dir\t{BARCODE}\n")
    with pytest.raises(InputError, match=r"plate.tsv line 3 \(sub/dir\): the id 'sub/dir' holds a path separator"):
        list(iter_queries(table))


@pytest.mark.damaged_input
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "plate.fasta.gz",
            gzip.compress(f">a\n{BARCODE}\n>b\n{BARCODE}\n".encode(), mtime=0)[:-12],
            r"plate.fasta.gz: the gzip stream ends early or is damaged after line \d+ .*copy or download it again",
        ),
        ("plate.fasta.gz", f">a\n{BARCODE}\n".encode(), r"plate.fasta.gz: named .gz but not gzip-compressed"),
        (
            "plate.fasta",
            b">a\nACGT\x91ACGT\n",
            r"plate.fasta line 2: byte 7 \(0x91\) is not UTF-8 text \(encoding tried: UTF-8\); save the file as UTF-8",
        ),
        (
            "plate.csv",
            f"id;sequence\na;{BARCODE}\n".encode(),
            r"plate.csv line 1: .*the header has id;sequence; the file is separated by semicolons, not commas",
        ),
        (
            "plate.tsv",
            f"id\tsequence\na\t{BARCODE}\nid\tsequence\nb\t{BARCODE}\n".encode(),
            r"plate.tsv line 3: the header line again \(two files joined\?\); remove that line",
        ),
    ],
    ids=["gzip cut short", "not gzip", "not UTF-8", "semicolons", "header repeated"],
)
def test_damaged_files_name_the_place_and_the_fix(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(iter_queries(path, problems=Problems(skip=True)))  # not skippable: the file itself is damaged
    assert path.read_bytes() == content


def test_a_prepared_reference_table_is_the_records_load_dataset_gives(prepared: Path, monkeypatch) -> None:
    """`dataset_table` reads the Parquet shards in batches (not the Arrow cache): the same records, order,
    cleaned barcodes, label names and countries as `load_dataset`, one object per repeated value."""
    from bioscan_hf.core.barcodes import barcode_key
    from bioscan_hf.data import sources
    from bioscan_hf.data.prepared import load_prepared, rank_names

    monkeypatch.setattr(sources, "_TABLE_BATCH", 7)  # many batches per shard
    table = sources.dataset_table(prepared, ("train", "key_unseen"))
    data = load_prepared(prepared, "metadata")
    expected_rows = []
    for split in ("train", "key_unseen"):
        part = data[split]
        names = {rank: rank_names(part, rank) for rank in sources.CALL_RANKS}
        for i, record in enumerate(part):
            row = [record["processid"], barcode_key(record["dna_barcode"])]
            row += [names[rank][i] for rank in sources.CALL_RANKS] + [record["country"], split]
            expected_rows.append(row)
    assert table.values.tolist() == expected_rows
    assert len({id(b) for b in table["dna_barcode"]}) == table["dna_barcode"].nunique()  # shared objects
    with pytest.raises(InputError, match="nope"):
        sources.dataset_table(prepared, ("nope",))
