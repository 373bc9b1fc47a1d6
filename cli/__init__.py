"""The command line (console script `lvmae`), the top layer: it sees both registries (experiments/,
ablations/) and the library (lvmae/). parser.py: its arguments; commands.py: list, show, run,
reproduce, cost, report; tools.py: bench, data. `python -m cli` runs it too."""
from __future__ import annotations

import importlib
import sys

# Each subcommand's module (imported only when it runs: `lvmae data check` loads no registry).
COMMANDS = {"list": "commands", "show": "commands", "run": "commands", "reproduce": "commands", "cost": "commands",
            "report": "commands", "bench": "tools", "data": "tools"}


def main(argv: list[str] | None = None) -> int:
  from cli.parser import parser
  from lvmae.validation import ConfigError
  args = parser().parse_args(argv)
  try:
    module = importlib.import_module(f"cli.{COMMANDS[args.command]}")
    status = getattr(module, f"cmd_{args.command}")(args)
  except (ConfigError, ValueError, NotImplementedError, FileNotFoundError) as e:
    print(f"lvmae: error: {e}", file=sys.stderr)
    return 2
  return status or 0
