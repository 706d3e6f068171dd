"""Build the course website from the committed notebooks, offline, failing on any warning.

    python tools/build_site.py                 # -> docs/_build/html
    python tools/build_site.py /some/folder    # somewhere else (the tests build into a temporary folder)

It runs ``python -m sphinx -W --keep-going -b html docs OUT`` (configuration: ``docs/conf.py``) and prints the
number of pages and the seconds the build took. CI (``.ci/run``) and ``.github/workflows/site.yml`` run this
command; ``tests/test_site.py`` checks the result in headless Chromium.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "_build" / "html"


def pages(out: Path) -> list[Path]:
    """The site's pages: its HTML files but the theme's templates and copies (``_static/``, ``_sources/``)."""
    return sorted(p for p in out.rglob("*.html") if not p.relative_to(out).parts[0].startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python tools/build_site.py [OUT]  (default: docs/_build/html)", file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve() if argv else DEFAULT_OUT
    start = time.perf_counter()
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)]
    done = subprocess.run(command, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(f"site: build failed after {seconds:.0f} s (warnings are errors; see above)", file=sys.stderr)
        return done.returncode
    print(f"site: {len(pages(out))} pages in {seconds:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
