"""Start-up stays light, measured as what is imported (not as time): `bioscan-hf --help`, `sample --help`
and `import bioscan_hf.core` import no torch, transformers model or datasets; identify against a FASTA
reference imports no model before it aligns; model families register on the first Auto lookup; old module
paths warn; every module imported at run time is a declared dependency."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: Bounds, in modules in `sys.modules` at the end (a bare Python start holds ~70): none imports torch.
BOUNDS = {"core": 170, "help": 150, "sample_help": 800}


def _modules_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _help(argv: list[str]) -> str:
    return f"from bioscan_hf.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"


def test_import_of_the_core_is_light() -> None:
    loaded = _modules_after("import bioscan_hf.core, bioscan_hf.core.options, bioscan_hf.core.outputs")
    assert "torch" not in loaded and "transformers" not in loaded and "pandas" not in loaded
    assert len(loaded) <= BOUNDS["core"], len(loaded)


def test_help_and_sample_help_import_no_model() -> None:
    loaded = _modules_after(_help(["--help"]))
    assert "transformers" not in loaded and len(loaded) <= BOUNDS["help"], len(loaded)
    loaded = _modules_after(_help(["sample", "--help"]))
    heavy = [m for m in ("torch", "datasets", "bioscan_hf.models.auto", "transformers.modeling_utils") if m in loaded]
    assert not heavy and len(loaded) <= BOUNDS["sample_help"], (heavy, len(loaded))


@pytest.mark.parametrize("name", ["sample", "prepare", "import-bold", "download", "verify", "push", "audit", "index"])
def test_commands_that_use_no_model_parse_without_torch(name: str) -> None:
    assert "torch" not in _modules_after(_help([name, "--help"]))


def test_identify_on_fasta_aligns_without_a_model(tmp_path: Path) -> None:
    """The engine, the references and the settings are imported; no model folder, torch's models or
    transformers' modeling code before the first alignment."""
    code = (
        "from bioscan_hf.search.run import identify\n"
        "from bioscan_hf.search.engine import Identifier\n"
        "import sys\nassert 'transformers.modeling_utils' not in sys.modules\n"
        "families = {f'bioscan_hf.models.{f}' for f in ('auto', 'barcodebert', 'barcodemamba', 'clibd', 'cnn')}\n"
        "assert not families & set(sys.modules)\n"
        "assert 'skops' not in sys.modules and 'sklearn' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_models_register_on_the_first_auto_lookup() -> None:
    code = (
        "import sys, bioscan_hf\n"
        "from transformers import HfArgumentParser\n"
        "assert 'bioscan_hf.models.auto' not in sys.modules\n"
        "from transformers import AutoConfig\n"
        "assert type(AutoConfig.for_model('barcodemamba')).__name__ == 'BarcodeMambaConfig'\n"
        "from transformers.models.auto.modeling_auto import MODEL_MAPPING\n"
        "from bioscan_hf.models.cnn import BarcodeCnnConfig\n"
        "assert BarcodeCnnConfig in MODEL_MAPPING\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("bioscan_hf.paths", "bioscan_hf.core.paths", "user_path"),
        ("bioscan_hf.identify.engine", "bioscan_hf.search.engine", "Identifier"),
        ("bioscan_hf.data.barcodes", "bioscan_hf.core.barcodes", "clean_barcode"),
        ("bioscan_hf.evaluation.dna", "bioscan_hf.evaluation.encoders", "evaluate_dna"),
    ],
)
def test_old_paths_warn_and_name_the_new_one(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    assert module.__spec__.name == old and importlib.import_module(new).__spec__.name == new
    assert importlib.reload(module) is module  # a module of its own: reload works


def _third_party_imports() -> set[str]:
    found = set()
    for path in (ROOT / "bioscan_hf").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "bioscan_hf"}


#: Imported only where a saved model folder or an optional backend is read, each guarded with a message.
OPTIONAL = {"mamba_ssm", "omegaconf", "gradio"}


def test_every_module_imported_at_run_time_is_declared() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower().replace("_", "-") for d in declared}
    providers = importlib.metadata.packages_distributions()
    missing = {
        module
        for module in _third_party_imports() - OPTIONAL
        if not {p.lower().replace("_", "-") for p in providers.get(module, [module])} & names
    }
    assert not missing, f"imported but not in [project] dependencies: {sorted(missing)}"
