"""Makes the chDB warehouse helpers of tests/sql and the dashboard generator in grafana/ importable here."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for directory in (ROOT / "tests" / "sql", ROOT / "grafana"):
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
