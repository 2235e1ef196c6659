"""The deployed function gets only `functions/registry/requirements.txt` (plus the mlsys source):
every third-party distribution it imports must be installable from that file."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from pathlib import Path
sys.path.insert(0, "functions/registry")
import main  # noqa: F401
from importlib import metadata
loaded = {str(Path(m.__file__).resolve()) for m in list(sys.modules.values())
          if getattr(m, "__file__", None)}
owners = set()
for dist in metadata.distributions():
    for f in dist.files or []:
        if str(Path(dist.locate_file(f)).resolve()) in loaded:
            owners.add(dist.metadata["Name"])
            break
print(json.dumps(sorted(owners)))
"""


def _closure(requirements: list[str]) -> set[str]:
    """Distributions pip would install for ``requirements`` (extras and markers honoured)."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = req.name.lower().replace("_", "-")
        names.add(name)
        for wanted in ["", *sorted(req.extras)]:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            try:
                requires = metadata.requires(name) or []
            except metadata.PackageNotFoundError:
                continue
            todo.extend((Requirement(r), wanted) for r in requires)
    return names


def test_function_imports_only_what_its_requirements_install():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    imported = {d.lower().replace("_", "-") for d in json.loads(out.stdout.splitlines()[-1])}
    lines = (ROOT / "functions/registry/requirements.txt").read_text().splitlines()
    allowed = _closure([ln for ln in lines if ln.strip() and not ln.startswith("#")])
    allowed.add("mlsys")  # shipped as source in the zip, not installed
    # Imported only if present (setuptools' .pth hook; grpc probes for its optional tools).
    optional = {"setuptools", "grpcio-tools", "grpcio-health-checking"}
    missing = sorted(imported - allowed - optional)
    assert missing == []
