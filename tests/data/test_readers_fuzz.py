"""Every reader of the files people keep, fed random bytes, truncations and mixed line endings (hypothesis):
never a traceback (only the reader's own error, naming the file), and never a record dropped or changed
without a word — each record is read as written or listed as skipped."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bioscan_hf.core.errors import InputError
from bioscan_hf.data.bold import BoldError, ImportReport, iter_bold_rows
from bioscan_hf.data.metadata import MetadataError, read_metadata
from bioscan_hf.data.release import write_metadata_zip
from bioscan_hf.data.sample import generate_records
from bioscan_hf.data.sources import Problems, iter_queries

pytestmark = pytest.mark.damaged_input
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
RNG = random.Random(5)
RECORDS = [(f"r{i}", "".join(RNG.choice("ACGT") for _ in range(60))) for i in range(8)]
ENDINGS = st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=16, max_size=16)


def _fasta(endings: list[str]) -> bytes:
    lines = [line for rid, seq in RECORDS for line in (f">{rid}", seq)]
    return "".join(line + end for line, end in zip(lines, endings)).encode()


def _read_fasta(path: Path) -> tuple[list[tuple[str, str]], int]:
    problems = Problems(skip=True)
    queries = [(q.id, q.sequence) for q in iter_queries(path, problems=problems)]
    return queries, len(problems.rows)


@SETTINGS
@given(endings=ENDINGS)
def test_fasta_reads_the_same_records_whatever_the_line_endings(tmp_path_factory, endings: list[str]) -> None:
    path = tmp_path_factory.mktemp("fasta") / "q.fasta"
    path.write_bytes(_fasta(endings))
    assert _read_fasta(path) == (RECORDS, 0)


@SETTINGS
@given(data=st.binary(max_size=400), cut=st.integers(0, 2000), gz=st.booleans(), endings=ENDINGS)
def test_fasta_never_drops_a_record_unmentioned(tmp_path_factory, data: bytes, cut: int, gz: bool, endings) -> None:
    """Random bytes spliced into a FASTA, cut anywhere, maybe gzipped (the gzip cut too): either an
    `InputError`, or every record header is either read or listed."""
    original = _fasta(endings)
    content = original[: cut % (len(original) + 1)] + data
    path = tmp_path_factory.mktemp("fasta") / ("q.fasta.gz" if gz else "q.fasta")
    packed = gzip.compress(content) if gz else content
    path.write_bytes(packed[: len(packed) - (cut % 7 if gz else 0)])
    try:
        queries, listed = _read_fasta(path)
    except InputError as err:
        assert str(path) in str(err)
        return
    lines = content.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    headers = sum(1 for line in lines if line.strip()[:1] == b">")
    assert len(queries) + listed == headers
    assert all(sequence and set(sequence) <= set("ACGTN") for _, sequence in queries)


HEADER = ["processid", "nucleotides", "markercode", "order_name", "species_name"]


@SETTINGS
@given(data=st.binary(max_size=300), cut=st.integers(0, 5000), endings=ENDINGS)
def test_bold_rows_are_read_or_reported(tmp_path_factory, data: bytes, cut: int, endings) -> None:
    lines = ["\t".join(HEADER)] + [f"{rid}\t{seq}\tCOI-5P\tDiptera\tA b" for rid, seq in RECORDS]
    original = "".join(line + end for line, end in zip(lines, [*endings, "\n"])).encode()
    path = tmp_path_factory.mktemp("bold") / "export.tsv"
    path.write_bytes(original[: cut % (len(original) + 1)] + data)
    report = ImportReport()
    try:
        rows = list(iter_bold_rows([path], report))
    except BoldError as err:
        assert str(path) in str(err)
        return
    assert len(rows) + len(report.unusable) == report.rows_read
    for row in rows:  # a row read as usable holds the text written, byte for byte
        assert "\x00" not in "".join(row.values())


@SETTINGS
@given(cut=st.integers(0, 100_000), snap=st.booleans(), crlf=st.booleans(), noise=st.binary(max_size=50))
@example(cut=0, snap=False, crlf=False, noise=b"\r\x00")  # a carriage return inside the header: csv.Error
@example(cut=240, snap=False, crlf=False, noise=b"\r\x00")  # ... inside a row
def test_metadata_rows_are_read_as_written_or_refused(tmp_path_factory, cut, snap, crlf, noise) -> None:
    """A metadata CSV cut anywhere (maybe with CRLF line ends, maybe with bytes appended): a `MetadataError`
    naming the file, or rows that are exactly the first rows of the file, unchanged."""
    folder = tmp_path_factory.mktemp("meta")
    rows, _, _ = generate_records(30, seed=1)
    full = read_metadata(write_metadata_zip(folder, rows, origin="test"))
    source = folder / "meta.csv"
    full.to_pandas().to_csv(source, index=False, lineterminator="\r\n" if crlf else "\n")
    data = source.read_bytes()
    cut = cut % (len(data) + 1)
    if snap:  # a cut at a row boundary, the case that parses cleanly
        cut, noise = data.rfind(b"\n", 0, cut) + 1, b""
    source.write_bytes(data[:cut] + noise)
    try:
        table = read_metadata(source)
    except MetadataError as err:
        assert str(source) in str(err)
        return
    assert table.num_rows <= full.num_rows
    assert table.column("processid").to_pylist() == full.column("processid").to_pylist()[: table.num_rows]
    assert table.column("dna_barcode").to_pylist() == full.column("dna_barcode").to_pylist()[: table.num_rows]
