"""A non-editable install (Colab's `pip install git+...`) carries every config."""

import glob
import os
import subprocess
import sys
import zipfile


def test_wheel_ships_the_configs_as_jaxrl_expert_configs(repo_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         repo_dir, "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = glob.glob(str(tmp_path / "*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(os.listdir(os.path.join(repo_dir, "configs")))
    assert "seals_cartpole.py" in configs
    for name in configs:
        if name.endswith(".py"):
            assert f"jaxrl_expert/configs/{name}" in names
    assert "jaxrl_expert/envs/brax.py" in names and "jaxrl_expert/rewards/nets.py" in names
