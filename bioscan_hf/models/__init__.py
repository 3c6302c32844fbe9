"""Model families (`barcodebert/`, `barcodemamba/`, `clibd/`, `cnn/`), each a transformers model folder that
registers with the Auto classes when imported; `bioscan_hf.models.auto` imports all of them (what
`import bioscan_hf` arranges on the first Auto lookup). Importing this package alone imports no family, so
`models.checks` (the checks run before a folder is loaded) costs no torch."""
