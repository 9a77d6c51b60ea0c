"""nnexp's conformance kit over every component nnexp-extras registers, found through its
installed entry point (so the package must be installed: ``pip install -e plugins/nnexp-extras``).
"""

import nnexp
from nnexp.testing import parametrize_with_checks

REGISTRY = nnexp.load_registry()


@parametrize_with_checks(REGISTRY, distribution="nnexp-extras")
def test_extras_component_conforms(component, check):
    check(component)


def test_extras_contributes_six_kinds_through_its_entry_point():
    mine = {(c.kind, c.name) for kind in nnexp.registry.KINDS
            for c in REGISTRY.components(kind) if c.provenance.distribution == "nnexp-extras"}
    assert mine == {("activation", "mish"), ("activation", "snake"), ("activation", "prelu"),
                    ("layer", "maxout"), ("layer", "residual_dense"), ("loss", "log_cosh"),
                    ("loss", "focal"), ("optimizer", "lion"), ("schedule", "polynomial"),
                    ("initializer", "orthogonal")}
    assert REGISTRY.get("activation", "mish").provenance.plugin == "extras"
