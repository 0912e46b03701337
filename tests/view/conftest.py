import sys
from pathlib import Path

# view_project.py builds the store these tests browse; it reuses the voting tests' answers builder.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "vote"))
