"""Every Python block in the README runs as written (imitation's only where it is installed)."""

import importlib.util
import pathlib
import re
import subprocess
import sys

from conftest import fast_compile_env

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
HAS_IMITATION = importlib.util.find_spec("imitation") is not None


def test_every_python_block_in_the_readme_runs(repo_dir, tmp_path):
    assert len(BLOCKS) >= 6, "the README's Python blocks were not found"
    # The block that trains output/cartpole first: the others read it.
    blocks = sorted(BLOCKS, key=lambda block: 'log_dir="output/cartpole"' not in block)
    assert 'log_dir="output/cartpole"' in blocks[0]
    for block in blocks:
        compile(block, "README.md", "exec")  # every block parses, imitation's too
    runnable = [b for b in blocks if HAS_IMITATION or "from imitation" not in b]
    program = "\n".join(f"exec({block!r}, {{}})" for block in runnable)
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True,
        timeout=600, env=fast_compile_env(PYTHONPATH=repo_dir),  # compile-bound blocks
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "output" / "cartpole" / "policies" / "final").is_dir()
    assert (tmp_path / "my_reward").is_dir()
