"""`python -m cli ...`: the `lvmae` command."""
import sys

from cli import main

sys.exit(main())
