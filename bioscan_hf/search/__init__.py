"""Search and identification: one package for vector indexes (`index`), query parsing (`queries`),
`Searcher`, reference libraries (`references`), the spaced-seed shortlist (`seeds`), exact alignment
(`align`), the identify engine and its per-rank calls (`engine`), the batch `identify` run (`run`) and the
scoring of calls (`report`). Data flows one way: references → seeds → align → engine → run."""

from bioscan_hf.core.errors import InputError
from bioscan_hf.data.sources import CALL_RANKS
from bioscan_hf.search.calls import DEFAULT_THRESHOLDS
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.index import build_index
from bioscan_hf.search.queries import QueryError, parse_dna_query, parse_dna_records
from bioscan_hf.search.references import Reference, read_references
from bioscan_hf.search.run import IdentifyRun, identify
from bioscan_hf.search.searcher import IndexFolderError, Searcher, SearchResult, vote

__all__ = [
    "CALL_RANKS",
    "DEFAULT_THRESHOLDS",
    "IdentifyRun",
    "Identifier",
    "IndexFolderError",
    "InputError",
    "QueryError",
    "Reference",
    "SearchResult",
    "Searcher",
    "build_index",
    "identify",
    "parse_dna_query",
    "parse_dna_records",
    "read_references",
    "vote",
]
