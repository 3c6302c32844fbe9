"""BIN-like clusters of barcodes: how many species a plate holds and which are new (`cluster`), by refined
single linkage on the search engine's neighbour graph (`linkage`); a run's settings are `ClusterSettings`.
Data flows one way: records → neighbour graph (`bioscan_hf.search.graph`) → linkage → run. Names are
imported from their modules when first used (`core.lazy`)."""

from bioscan_hf.core.lazy import lazy_exports

__all__ = ["LINK_DISTANCE", "ClusterRun", "ClusterSettings", "cluster", "record_clusters"]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LINK_DISTANCE": "linkage",
        "ClusterSettings": "settings",
        "ClusterRun": "run",
        "cluster": "run",
        "record_clusters": "run",
    },
)
