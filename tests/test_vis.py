"""The seed's plotting helper: `from mlsys.vis import setup_plot_style`, matplotlib optional."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_setup_plot_style_applies_the_style_and_overrides():
    import matplotlib as mpl

    from mlsys.vis import PLOT_STYLE, setup_plot_style

    with mpl.rc_context():
        setup_plot_style(**{"font.size": 9})
        assert list(mpl.rcParams["figure.figsize"]) == list(PLOT_STYLE["figure.figsize"])
        assert mpl.rcParams["axes.titlesize"] == PLOT_STYLE["axes.titlesize"]
        assert mpl.rcParams["font.size"] == 9
        assert mpl.rcParams["axes.grid"]  # the darkgrid base style


def test_matplotlib_is_not_imported_by_the_library_entry_points():
    code = (
        "import sys; import mlsys.vis, mlsys.cli, mlsys.registry, mlsys.predict, service.main; "
        "sys.exit('matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "matplotlib was imported"


def test_without_matplotlib_the_error_says_what_to_install():
    # A None entry in sys.modules makes `import matplotlib` fail, as if it were not installed.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from mlsys.vis import setup_plot_style\n"
        "try:\n    setup_plot_style()\nexcept ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "mlsys[notebook]" in done.stdout, done.stderr
