import sys
from pathlib import Path

# The query parser has no CKAN import: test it from the project's environment.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
