"""``python -m l2lcore``: the command line of :mod:`l2lcore.cli`."""
import sys

from .cli import main

sys.exit(main())
