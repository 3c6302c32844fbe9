"""identify under the package's output rule and its settings' ranges: every file beside OUT that identify did
not write is refused before any work (and kept byte for byte), a foreign `OUT.parts/` is never deleted, a
finished chunk of another run is refused when resumed, values out of range are refused when the settings are
made, a taxon the library lacks is refused with the nearest names, and a FASTA with a byte-order mark is
read as FASTA."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from search.test_identify import LIBRARY, _fasta, _stop_on_second_chunk

from bioscan_hf.core.errors import InputError, UserError
from bioscan_hf.search import IdentifySettings, identify

pytestmark = pytest.mark.damaged_input


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[::6], lambda r: f"q{r.processid}")
    return queries, reference


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "name", ["calls.hits.tsv", "calls.summary.json", "calls.provenance.json", "calls.hits.blast6", "calls.skipped.tsv"]
)
def test_a_users_file_beside_out_is_refused_before_any_work(inputs: tuple[Path, Path], name: str) -> None:
    queries, reference = inputs
    folder = queries.parent
    (folder / name).write_text("my own notes\n")
    before = _snapshot(folder)
    with pytest.raises(UserError, match=f"{name} exists and was not written by bioscan-hf identify"):
        identify(queries, reference, folder / "calls.tsv", progress=False)
    assert _snapshot(folder) == before  # nothing written, nothing replaced
    run = identify(queries, reference, folder / "calls.tsv", progress=False, overwrite=True, top_k=1)
    assert len(run.results) == len(LIBRARY.iloc[::6])


def test_a_users_parts_folder_is_never_deleted(inputs: tuple[Path, Path]) -> None:
    queries, reference = inputs
    parts = queries.parent / "calls.tsv.parts"
    parts.mkdir()
    (parts / "mine.txt").write_text("keep me")
    before = _snapshot(queries.parent)
    for overwrite in (False, True):
        with pytest.raises(InputError, match="was not written by bioscan-hf identify"):
            identify(queries, reference, queries.parent / "calls.tsv", progress=False, overwrite=overwrite)
    assert _snapshot(queries.parent) == before


def test_a_chunk_of_another_run_is_refused_when_resumed(
    inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries, reference = inputs
    _stop_on_second_chunk(queries, reference, tmp_path / "run.parquet", monkeypatch)
    part = tmp_path / "run.parquet.parts" / "part-00000.parquet"
    table = pq.read_table(part)  # the same rows, tagged as another run's
    pq.write_table(table.replace_schema_metadata({b"bioscan_hf_run": b"0123456789abcdef"}), part)
    before = _snapshot(tmp_path)
    with pytest.raises(InputError, match="part-00000.parquet was not written by this run"):
        identify(queries, reference, tmp_path / "run.parquet", chunk_size=2, progress=False)
    part.write_bytes(part.read_bytes()[:40])  # cut short: pyarrow's own words are not the message
    with pytest.raises(InputError, match="unreadable .*remove it .* and rerun to resume"):
        identify(queries, reference, tmp_path / "run.parquet", chunk_size=2, progress=False)
    assert set(_snapshot(tmp_path)) == set(before)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("top_k", -1, "--top-k -1: expected a whole number ≥ 0"),
        ("candidates", 0, "--candidates 0: expected a whole number ≥ 1"),
        ("chunk_size", 0, "--chunk-size 0: expected a whole number ≥ 1"),
        ("num_proc", 0, "--num-proc 0: expected a whole number ≥ 1"),
        ("min_confidence", 1.5, "--min-confidence 1.5: expected a probability between 0 and 1"),
        ("thresholds", "species=1.5", "a fraction of identical bases \\(0–1\\) or a percentage \\(50–100\\)"),
        ("thresholds", "specie=0.97", "RANK one of order, family"),
        ("outfmt", "xml", "--outfmt 'xml': expected one of table, blast6"),
    ],
)
def test_values_out_of_range_are_refused_with_the_range(field: str, value: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        IdentifySettings(**{field: value})


def test_thresholds_read_fractions_and_percentages() -> None:
    settings = IdentifySettings(thresholds="species=97,genus=0.94")
    assert settings.thresholds["species"] == pytest.approx(0.97) and settings.thresholds["genus"] == 0.94


def test_a_taxon_or_country_the_library_lacks_names_the_nearest(inputs: tuple[Path, Path]) -> None:
    queries, reference = inputs
    species = str(LIBRARY["species"].iloc[0])
    typo = species[:-1] + ("x" if species[-1] != "x" else "y")
    with pytest.raises(InputError, match=f"--within: no reference record is within '{typo}'.*did you mean .*{species}"):
        identify(queries, reference, queries.parent / "w.tsv", within=typo, progress=False)
    assert not (queries.parent / "w.tsv").exists()


def test_a_fasta_with_a_byte_order_mark_is_fasta(inputs: tuple[Path, Path]) -> None:
    queries, reference = inputs
    marked = queries.with_name("bom.fasta")
    marked.write_bytes(b"\xef\xbb\xbf" + queries.read_bytes())
    plain = identify(queries, reference, queries.parent / "plain.tsv", progress=False).results
    read = identify(marked, reference, queries.parent / "bom.tsv", progress=False).results
    assert read["query"].tolist() == plain["query"].tolist()


def test_calibrate_refuses_a_users_skipped_list_beside_its_output(inputs: tuple[Path, Path]) -> None:
    from bioscan_hf.search.held_out import calibrate_reference

    _, reference = inputs
    (reference.parent / "c.skipped.tsv").write_text("my list\n")
    before = _snapshot(reference.parent)
    with pytest.raises(UserError, match="c.skipped.tsv exists and was not written by bioscan-hf calibrate"):
        calibrate_reference(reference, reference.parent / "c.skops", progress=False, queries=20)
    assert _snapshot(reference.parent) == before
