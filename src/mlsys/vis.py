"""Plotting style for notebooks: the seed's ``from mlsys.vis import setup_plot_style``.

matplotlib is imported inside the function, never at import time: the service, the function and
the CLI import ``mlsys`` without it. It comes with the ``notebook`` extra
(``pip install 'mlsys[notebook]'``) and with the repository's dev dependencies (``uv sync``).
"""

from __future__ import annotations

from typing import Any

#: A grid on a light background, readable figure and font sizes (the seed's look).
BASE_STYLE = "seaborn-v0_8-darkgrid"
PLOT_STYLE: dict[str, Any] = {
    "figure.figsize": (10, 6),
    "figure.dpi": 100,
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.labelsize": 12,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
}


def setup_plot_style(**overrides: Any) -> None:
    """Apply mlsys's matplotlib style to every later plot (rcParams ``overrides`` win)."""
    try:
        import matplotlib.style as mstyle
    except ImportError as exc:
        raise ImportError(
            "setup_plot_style needs matplotlib: install the notebook extra "
            "(`pip install 'mlsys[notebook]'`, or `uv sync` in the mlsys repository)"
        ) from exc
    # The named style ships with matplotlib >= 3.6; an older or trimmed install keeps its default.
    base = [BASE_STYLE] if BASE_STYLE in mstyle.available else []
    mstyle.use([*base, {**PLOT_STYLE, **overrides}])
