import sys
from pathlib import Path

# voting_project.py (the throwaway project builder) is imported by name from the tests here.
sys.path.insert(0, str(Path(__file__).parent))
