"""The training commands keep every TrainingArguments field, --config-file and the old option names, and
read the BarcodeBERT size from the presets beside its config."""

from __future__ import annotations

from pathlib import Path

from bioscan_hf.models.barcodebert import BarcodeBertConfig
from bioscan_hf.models.barcodebert.configuration_barcodebert import PRESETS
from bioscan_hf.training.arguments import PretrainArguments, parse_training_command


def _parse(argv: list[str]):
    return parse_training_command(PretrainArguments, argv, "bioscan-hf pretrain", "test", {})


def test_a_preset_with_fields_over_it() -> None:
    run = _parse(["--dataset", "d", "--out", "o", "--preset", "4-12-12", "--heads", "6", "--quiet"])
    config = run.options.model_config()
    assert (config.k_mer, config.num_hidden_layers, config.num_attention_heads) == (4, 12, 6)
    assert run.output.quiet and not run.output.verbose
    default = _parse(["--dataset", "d", "--out", "o"]).options.model_config()
    assert default.to_dict() == BarcodeBertConfig().to_dict()  # the published 8-4-4
    small = _parse(["--dataset", "d", "--out", "o", "--hidden-size", "64"]).options.model_config()
    assert small.intermediate_size == 256  # 4 × hidden, as every preset


def test_every_preset_builds(tmp_path: Path) -> None:
    for name in PRESETS:
        config = BarcodeBertConfig.from_preset(name)
        assert config.vocab_size == 4**config.k_mer + 5
    (tmp_path / "opts.yaml").write_text("dataset: d\noutput_dir: o\nk: 5\nheads: 2\n")
    options = _parse(["--config-file", str(tmp_path / "opts.yaml")]).options
    assert (options.k_mer, options.num_attention_heads) == (5, 2)  # the old names work in files too
