"""docs/plugin-guide.md stays true: every hook documented with its exact signature, every check
and kind covered, and its example package — extracted from the guide's titled code blocks —
installs with pip, is discovered through its entry point and passes ``nnexp check`` and its own
tests."""

import inspect
import json
import re
import sys
from pathlib import Path

import pytest
from plugin_fixtures import NNEXP, pip_install, python, run

from nnexp import hookspecs
from nnexp.registry import KINDS
from nnexp.testing import CHECKS

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugin-guide.md"
TEXT = GUIDE.read_text(encoding="utf-8")
HEADINGS = [line for line in TEXT.splitlines() if line.startswith("#")]
#: ```lang title="path"  ...  ``` blocks: the files of the guide's example package
TITLED_BLOCK = re.compile(r'^```\w*[ \t]+title="([^"]+)"\n(.*?)^```[ \t]*$', re.M | re.S)
EXAMPLE = "nnexp-isru"


def hook_signatures() -> dict[str, str]:
    """Hook name -> ``name(arg, ...)`` for every hookspec nnexp defines."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {name: f"{name}{inspect.signature(fn)}"
            for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, marker)}


def test_every_hook_has_a_section_headed_by_its_exact_signature():
    signatures = hook_signatures()
    assert len(signatures) >= 11  # the register_* hooks and the lifecycle hooks
    missing = [sig for sig in signatures.values() if not any(f"`{sig}`" in h for h in HEADINGS)]
    assert not missing, (f"{GUIDE.name} has no heading '### `<signature>`' for: {missing}. "
                         "Document each new hook in the guide's hook reference.")


def test_guide_documents_no_hook_that_does_not_exist():
    documented = {m for h in HEADINGS for m in re.findall(r"`(\w+)\(", h)}
    assert documented and documented <= set(hook_signatures()), documented - set(hook_signatures())


def test_every_component_kind_and_kit_check_is_covered():
    headings = " ".join(HEADINGS).lower()
    assert all(kind in headings for kind in KINDS), [k for k in KINDS if k not in headings]
    checks = {c.name for kind_checks in CHECKS.values() for c in kind_checks}
    assert not [c for c in checks if f"`{c}`" not in TEXT]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The guide's example package, written out from its titled code blocks."""
    root = tmp_path_factory.mktemp("guide")
    for path, body in TITLED_BLOCK.findall(TEXT):
        if path.startswith(EXAMPLE + "/"):
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
    return root / EXAMPLE


@pytest.fixture(scope="module")
def site(example, tmp_path_factory) -> Path:
    return pip_install([example], tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("build"))


def test_guide_example_is_a_complete_package(example):
    files = sorted(str(p.relative_to(example)) for p in example.rglob("*") if p.is_file())
    assert files == ["pyproject.toml", "src/nnexp_isru/__init__.py", "tests/test_isru.py"]


def test_guide_example_is_discovered_through_its_entry_point(site):
    out = run([NNEXP, "plugins", "--json"], site)
    assert out.returncode == 0, out.stderr
    entry = next(e for e in json.loads(out.stdout)["plugins"] if e["name"] == "isru")
    assert (entry["distribution"], entry["version"], entry["status"]) == (EXAMPLE, "0.1.0", "ok")
    assert entry["components"] == {"activation": ["isru"]}


def test_guide_example_passes_nnexp_check(site):
    out = run([NNEXP, "check", "isru"], site)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^PASS\s+activation\s+isru\s+nnexp-isru==0\.1\.0", out.stdout, re.M), out.stdout


def test_guide_example_passes_its_own_tests(example, site):
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example / "tests")],
              site)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"\b1[0-9] passed\b", out.stdout), out.stdout  # 8 kit checks + 2 of its own


def test_guide_example_trains_a_network(site):
    code = """
import numpy as np, nnexp
rng = np.random.default_rng(0)
X = rng.normal(size=(128, 2)); y = (X[:, :1] * X[:, 1:] > 0).astype(float)
net = nnexp.Network.mlp(2, [16], 1, activation={"type": "isru", "alpha": 0.5},
                        output_activation="sigmoid", seed=0)
h = nnexp.fit(net, X, y, loss="mse", optimizer={"type": "adam", "lr": 0.05}, epochs=40)
print(h["accuracy"][-1])
"""
    out = python(code, site)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0.85
