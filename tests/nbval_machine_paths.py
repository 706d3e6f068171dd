"""A pytest plugin for the nbval runs of tests/test_launch_paths.py: it fails a notebook cell whose outputs
show a machine path (committed outputs must never carry one).

It is copied beside the notebooks' folders as ``conftest.py``; the pattern comes from the run's pytest.ini
(``machine_path``, written there from ``tools/run_notebooks.py``'s MACHINE_PATH), so this process does not
import the package (and torch) for it. nbval keeps a cell's outputs in ``item.test_outputs``; a test plants a
leaking cell to prove the attribute is still there.
"""

import re

import pytest


def pytest_addoption(parser):
    parser.addini("machine_path", "regular expression of a machine path that no output may show")


def _leaks(outputs, pattern: re.Pattern) -> list[str]:
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    return pattern.findall(text)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.passed:
        return
    pattern = re.compile(item.config.getini("machine_path"))
    leaks = _leaks(getattr(item, "test_outputs", None) or [], pattern)
    if leaks:
        report.outcome = "failed"
        report.longrepr = f"machine paths in the outputs: {sorted(set(leaks))[:3]}"
