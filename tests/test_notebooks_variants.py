"""What include_notebooks=no leaves out: no notebook, package or hook.

Checked here on every include_notebooks=no variant with each docs and serving answer;
the deep layer (tests/test_deep.py) checks the same after `make install` (uv.lock
included) on the deep variant without notebooks, and runs the notebook commit workflow
(real git, pre-commit and Jupyter kernels) in the default project right after its first
commit through every hook.
"""

from __future__ import annotations

import pytest
from conftest import bake_project
from variants import VARIANTS, covering
from workflow import check_no_notebook_tooling

# Without notebooks, with every docs and serving answer (they add files and targets).
NO_NOTEBOOKS = covering(["docs", "serving"], where={"include_notebooks": "no"})


@pytest.mark.parametrize("variant", NO_NOTEBOOKS)
def test_notebooks_no_leaves_no_tooling(cookies_session, variant):
    check_no_notebook_tooling(bake_project(cookies_session, **VARIANTS[variant]))
