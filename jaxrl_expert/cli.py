"""What the command-line tools share: flags defined only where `main` runs, and --help.

generate, eval_policy and render define flags of the same names (`--policy`,
`--out`, `--seed`, ...), so none defines them at import: each entry point
(`main_console`, which is also what `python -m` runs) passes its flag
definitions to `run`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from absl import app

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
    `flags_parser` replaces `parse_flags` (and should end by calling it).
    """
    main_module = sys.modules["__main__"]
    main_module.__doc__ = main_module.__doc__ or doc
    define_flags(sys.argv[0])
    app.run(main, flags_parser=flags_parser or parse_flags)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing (a bad or missing flag: one line and exit 1); help first, exiting 0."""
    asked = [arg for arg in argv[1:] if arg in _HELP_FLAGS]
    if asked:
        try:
            app.parse_flags_with_usage([argv[0], asked[0]])
        except SystemExit:  # absl printed the help
            sys.exit(0)
    return app.parse_flags_with_usage(argv)
