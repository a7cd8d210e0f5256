import sys
from pathlib import Path

# The exact rational oracle (tests/quadratic/oracle.py) is imported by name.
sys.path.insert(0, str(Path(__file__).parent / "quadratic"))
