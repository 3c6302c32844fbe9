"""What an audit says about one record (`Finding`), and how several findings on one record become its row
of the suspects table (the most certain one, the others named in its evidence). The table is read back by
`bioscan_hf.data.exclusions` (`prepare` / `import-bold --exclude`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

#: The kinds of suspects, most to least specific about what is wrong.
CATEGORIES = ("contamination", "label_conflict", "barcode_qc", "bin_discordance")
#: A finding this certain may name a record's category over a more certain but less specific one.
SPECIFIC_ENOUGH = 0.5
#: Columns of the suspects table, in order (`line`: the record's line where the source is a file;
#: `split`: its split where it is a prepared dataset).
SUSPECT_COLUMNS = ("processid", "category", "score", "rank", "label", "suggested", "evidence", "order")


@dataclass(frozen=True)
class Finding:
    """Something probably wrong with the record at `row` of the audited table."""

    row: int
    category: str
    #: how sure the audit is that something is wrong, in [0, 1]
    score: float
    #: the rank at which the label conflicts (None for a barcode finding)
    rank: str | None
    label: str | None
    suggested: str | None
    evidence: str


def combine(findings: Iterable[Finding]) -> dict[int, Finding]:
    """One finding per record: the most specific of its findings scoring at least `SPECIFIC_ENOUGH` (the
    order of `CATEGORIES`: a foreign barcode explains its BIN's discordance), else its most certain one,
    with the record's highest score; the others named at the end of its evidence."""
    by_row: dict[int, list[Finding]] = {}
    for finding in findings:
        by_row.setdefault(finding.row, []).append(finding)
    combined = {}
    for row, found in by_row.items():
        found.sort(key=_naming_order)
        best, others = found[0], found[1:]
        score = max(f.score for f in found)
        evidence = best.evidence
        if others:
            evidence += ". Also: " + "; ".join(f"{f.category} {f.score:.2f} ({_short(f)})" for f in others)
        combined[row] = replace(best, score=score, evidence=evidence)
    return combined


def _naming_order(finding: Finding) -> tuple:
    """Findings scoring `SPECIFIC_ENOUGH` first, most specific first; below it, most certain first."""
    category = CATEGORIES.index(finding.category)
    if finding.score >= SPECIFIC_ENOUGH:
        return (0, category, -finding.score)
    return (1, -finding.score, category)


def _short(finding: Finding) -> str:
    if finding.rank:
        return f"{finding.rank} {finding.label} → {finding.suggested}"
    return finding.evidence.split(":")[0]
