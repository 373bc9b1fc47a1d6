"""The command line (console script `lvmae`), the top layer: it sees both registries (experiments/,
ablations/) and the library (lvmae/). parser.py: its arguments; commands.py: list, show, run,
reproduce, cost, report; tools.py: bench, data. `python -m cli` runs it too."""
from __future__ import annotations

import importlib
import os
import sys

# Each subcommand's module (imported only when it runs: `lvmae data check` loads no registry).
COMMANDS = {"list": "commands", "show": "commands", "run": "commands", "reproduce": "commands", "cost": "commands",
            "report": "commands", "bench": "tools", "data": "tools"}


# The smoke profile proves the pipeline on tiny models, so XLA's CPU backend compiles them without its
# expensive LLVM optimisations: Table 4a's first smoke call took 42 s instead of 68 s, with the same
# numbers, and Figure 1's compiled memory and FLOPs (HLO-level, untouched) came out the same. It applies
# when a command that runs stages (FAST_AT_SMOKE; never `bench`, which times the compiled code) is at
# the smoke profile and the process has not started XLA yet (a command line does not).
SMOKE_XLA_FLAGS = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
FAST_AT_SMOKE = ("run", "reproduce")


def _fast_compilation_at_smoke(command: str, profile: str | None) -> None:
  if command in FAST_AT_SMOKE and profile == "smoke":
    flags = os.environ.get("XLA_FLAGS", "").split()
    os.environ["XLA_FLAGS"] = " ".join(flags + [f for f in SMOKE_XLA_FLAGS if f not in flags])


def main(argv: list[str] | None = None) -> int:
  from cli.parser import parser
  args = parser().parse_args(argv)
  _fast_compilation_at_smoke(args.command, getattr(args, "profile", None))
  from lvmae.validation import ConfigError
  try:
    module = importlib.import_module(f"cli.{COMMANDS[args.command]}")
    status = getattr(module, f"cmd_{args.command}")(args)
  except (ConfigError, ValueError, NotImplementedError, FileNotFoundError) as e:
    print(f"lvmae: error: {e}", file=sys.stderr)
    return 2
  return status or 0
