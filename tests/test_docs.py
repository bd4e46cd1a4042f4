"""The README's config reference matches `base_config()` field for field."""

import inspect
import pathlib
import re

import ml_collections

from jaxrl_expert import config as config_lib

_ASSIGN = re.compile(r"\s*(config|ppo|sac)\.(\w+) = .*?  # (.*)$")
_DICT_FIELDS = ("env_kwargs", "ppo.net_arch", "sac.net_arch")  # dict-valued fields, not sections
_DICT_ENTRY = re.compile(r'\s*"(\w+)": .*?  # (.*)$')


def reference_rows() -> list[str]:
    """One markdown row per leaf field, in source order: name, default, its comment."""
    config = config_lib.base_config()
    rows, parent = [], None
    for line in inspect.getsource(config_lib.base_config).splitlines():
        if match := _ASSIGN.match(line):
            owner, name, comment = match.groups()
            path = name if owner == "config" else f"{owner}.{name}"
            default = config[path] if owner == "config" else config[owner][name]
            parent = None
            if isinstance(default, ml_collections.ConfigDict) and path not in _DICT_FIELDS:
                parent = path  # a section: its fields follow on their own lines
                continue
        elif (match := _DICT_ENTRY.match(line)) and parent:
            name, comment = match.groups()
            path, default = f"{parent}.{name}", config[parent][name]
        else:
            continue
        if isinstance(default, ml_collections.ConfigDict):
            default = default.to_dict()
        rows.append(f"| `{path}` | `{default!r}` | {comment} |")
    return rows


def test_readme_config_reference_lists_every_field_with_its_default(repo_dir):
    readme = pathlib.Path(repo_dir, "README.md").read_text()
    documented = [line for line in readme.splitlines() if re.match(r"\| `[\w.]+` \| `", line)]
    expected = reference_rows()
    base = config_lib.base_config()
    leaves = {
        f"{section}.{k}"
        for section in ("normalize_kwargs", "load_reward_kwargs", "ppo", "sac")
        for k in base[section]
    }
    leaves |= {k for k in base if not isinstance(base[k], ml_collections.ConfigDict)}
    leaves |= {"env_kwargs"}  # a dict-valued field, like ppo.net_arch
    assert {row.split("`")[1] for row in expected} == leaves  # every field has a comment
    assert documented == expected, "README config table is stale; expected:\n" + "\n".join(expected)
