import sys
from pathlib import Path

# The language rules have no CKAN import: test them from the project's environment.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
