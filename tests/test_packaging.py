"""The install files agree: pyproject.toml, environment.yml and the README's commands."""

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (dev and docs extras)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def requirement_names(specs):
    return {re.split(r"[<>=!~ \[]", s.strip(), maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]
    lines = re.findall(r"^\s+- (\S.*)$", pip_section, re.M)
    assert "-e ." in lines  # Binder installs course_utils itself
    assert {line for line in lines if not line.startswith("-")} == wanted  # same names and the same bounds


def test_no_hard_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" not in spec, f"{spec}: lower bounds only (Colab brings its own torch)"


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = (
        'pip install -e ".[dev,docs]"',
        "python -m pytest",
        "python tools/build_site.py",
    )
    for command in commands:
        assert command in readme and command in ci, command
    venv = r"python -m venv (\S+) && source \1/bin/activate"  # a newcomer's setup: a virtual environment
    assert re.search(venv, readme) and re.search(venv, ci)
