"""What the command-line tools share: flags defined only where `main` runs, and --help.

generate, eval_policy and render define flags of the same names (`--policy`,
`--out`, `--seed`, ...), so none defines them at import: each entry point
(`main_console`, which is also what `python -m` runs) passes its flag
definitions to `run`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from absl import app, flags

# absl's help flags print the usage and exit 1; asking a command for help is no error.
_HELP_FLAGS = frozenset(
    {"-?", "--?", "-help", "--help", "-helpshort", "--helpshort", "-helpfull", "--helpfull"}
)


def run(
    main: Callable[[list[str]], None],
    define_flags: Callable[[str], None],
    doc: str,
    flags_parser: Callable[[list[str]], list[str]] | None = None,
) -> None:
    """Defines the command's flags, then `app.run(main)`; a request for help exits 0.

    `define_flags(module_name)` passes module_name to every flags.DEFINE_*:
    absl's --help lists the flags of the running program (sys.argv[0], for a
    console script and for `python -m` alike) under the docstring of
    `__main__`, which a console script lacks; `doc` stands in for it.
    `flags_parser` replaces `parse_flags` (and should end by calling it). A
    `UsageError` from `main` ends the program with one line.
    """
    main_module = sys.modules["__main__"]
    main_module.__doc__ = main_module.__doc__ or doc
    define_flags(sys.argv[0])

    def main_or_one_line(argv: list[str]) -> None:
        try:
            main(argv)
        except app.UsageError as e:  # absl would print the whole docstring first
            sys.exit(f"{program_name(argv)}: {e}")

    app.run(main_or_one_line, flags_parser=flags_parser or parse_flags)


def program_name(argv: list[str]) -> str:
    """`train_rl` for `python -m jaxrl_expert.train_rl`, `jaxrl-train-rl` for the script."""
    return os.path.basename(argv[0]).removesuffix(".py")


def parse_flags(argv: list[str], hint: Callable[[str], str] | None = None) -> list[str]:
    """absl's parsing, help first (exit 0); a bad or missing flag: one line and exit 1.

    `hint(flag_name)` may add a suggestion for an unknown flag.
    """
    asked = [arg for arg in argv[1:] if arg in _HELP_FLAGS]
    if asked:
        try:
            app.parse_flags_with_usage([argv[0], asked[0]])
        except SystemExit:  # absl printed the help
            sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        extra = hint(e.flagname) if hint and isinstance(e, flags.UnrecognizedFlagError) else ""
        sys.exit(f"{program_name(argv)}: {e}{extra} (flags: --helpshort)")
