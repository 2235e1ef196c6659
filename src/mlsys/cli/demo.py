"""``mlsys demo``: the main job end to end on the local stack."""

from __future__ import annotations

from mlsys.cli import console

#: The example in each command's help (mlsys.cli registers the commands with it).
EXAMPLES = {
    "demo": "Example: mlsys demo  (then: mlsys models list)",
}


def demo() -> None:
    """Start the local stack if needed, load Titanic into BigQuery, train, upload, read back."""
    from mlsys.demo import run_demo

    run_demo(console)
