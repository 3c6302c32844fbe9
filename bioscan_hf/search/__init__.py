"""Search and identification: one package for vector indexes (`index`), query parsing (`queries`),
`Searcher`, reference libraries (`references`), the spaced-seed shortlist (`seeds`), exact alignment
(`align`), the identify engine and its per-rank calls (`engine`), the batch `identify` run (`run`) and the
scoring of calls (`report`); a run's settings are `settings` (`IdentifySettings`, `CalibrateSettings`,
`IndexSettings`). Data flows one way: references → seeds → align → engine → run. Names are imported from
their modules when first used (`core.lazy`)."""

from bioscan_hf.core.lazy import lazy_exports

__all__ = [
    "CALL_RANKS",
    "DEFAULT_THRESHOLDS",
    "CalibrateSettings",
    "IdentifyRun",
    "IdentifySettings",
    "Identifier",
    "IndexFolderError",
    "IndexSettings",
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
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CALL_RANKS": "settings",
        "DEFAULT_THRESHOLDS": "settings",
        "CalibrateSettings": "settings",
        "IdentifySettings": "settings",
        "IndexSettings": "settings",
        "InputError": "settings",
        "Identifier": "engine",
        "build_index": "index",
        "QueryError": "queries",
        "parse_dna_query": "queries",
        "parse_dna_records": "queries",
        "Reference": "references",
        "read_references": "references",
        "IdentifyRun": "run",
        "identify": "run",
        "IndexFolderError": "searcher",
        "Searcher": "searcher",
        "SearchResult": "searcher",
        "vote": "searcher",
    },
)
