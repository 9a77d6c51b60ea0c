"""The README's Python example runs and prints what it says."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_reproduces_the_tutorial_gradient():
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "0.04936561" in lines[0]                      # SPEC.md's dL/dW1[0, 0]
    assert "'accuracy': 1.0" in out.stdout               # XOR solved
    assert float(lines[-1].split()[0]) < 1e-6            # gradient check passes


def test_readme_names_the_two_setup_commands_that_exist():
    text = README.read_text()
    for script in ("scripts/demo.sh", "scripts/test.sh", "scripts/server.sh", "scripts/ray_cluster.sh"):
        assert f"bash {script}" in text
        assert (README.parent / script).exists()
