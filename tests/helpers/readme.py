"""The README's quick start, for the tests and the wheel check that run it as written.

``python -m tests.helpers.readme`` prints it.
"""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start():
    """The one Python block of the README's "Quick start" section, as written there."""
    section = README.read_text().split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


if __name__ == "__main__":
    print(quick_start(), end="")
