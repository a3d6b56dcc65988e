import sys
from pathlib import Path

# tests/ holds helper modules (tiny_models.py) that the tests import directly.
sys.path.insert(0, str(Path(__file__).parent))
