"""The ground floor every part of bioscan-hf may import and that imports none of them: the barcode
alphabet and cleaning policy, model specs, accuracy metrics, vector search, shared errors, user paths and
table formatting."""
