"""How the binding finds libesmarket (run in subprocesses: the library is loaded once per process).

Order: $ESMARKET_LIB, then next to the package, then .build/{release,debug} above the package's
directory, then above the working directory."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SRC, library_file

SNIPPET = ("import esmarket, sys; p = esmarket.library_path(); "
           "print(p); print(esmarket.version())")


def run(code, cwd, pythonpath, env_lib=None):
    env = {k: v for k, v in os.environ.items() if k not in ("ESMARKET_LIB", "PYTHONPATH")}
    env["PYTHONPATH"] = str(pythonpath)
    if env_lib is not None:
        env["ESMARKET_LIB"] = str(env_lib)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def isolated_package(tmp_path):
    """A copy of the pure-Python package outside the repository (nothing bundled)."""
    dest = tmp_path / "site" / "esmarket"
    shutil.copytree(SRC / "esmarket", dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.dylib"))
    return dest


def test_env_var_wins(tmp_path, isolated_package):
    lib = tmp_path / "elsewhere" / "libesmarket.so"
    lib.parent.mkdir()
    shutil.copy2(library_file(), lib)
    out = run(SNIPPET, tmp_path, isolated_package.parent, env_lib=lib)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.splitlines()[0]) == lib


def test_env_var_pointing_nowhere_is_an_error(tmp_path, isolated_package):
    out = run(SNIPPET, tmp_path, isolated_package.parent, env_lib=tmp_path / "missing.so")
    assert out.returncode != 0
    assert "LibraryNotFoundError" in out.stderr and "ESMARKET_LIB" in out.stderr


def test_next_to_the_package(tmp_path, isolated_package):
    shutil.copy2(library_file(), isolated_package / "libesmarket.so")
    out = run(SNIPPET, tmp_path, isolated_package.parent)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.splitlines()[0]) == isolated_package / "libesmarket.so"


def test_build_folder_above_the_working_directory(tmp_path, isolated_package):
    project = tmp_path / "project"
    (project / ".build" / "release").mkdir(parents=True)
    shutil.copy2(library_file(), project / ".build" / "release" / "libesmarket.so")
    cwd = project / "some" / "sub" / "dir"
    cwd.mkdir(parents=True)
    out = run(SNIPPET, cwd, isolated_package.parent)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.splitlines()[0]) == project / ".build" / "release" / "libesmarket.so"


def test_debug_build_folder(tmp_path, isolated_package):
    (tmp_path / ".build" / "debug").mkdir(parents=True)
    shutil.copy2(library_file(), tmp_path / ".build" / "debug" / "libesmarket.so")
    out = run(SNIPPET, tmp_path, isolated_package.parent)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.splitlines()[0]) == tmp_path / ".build" / "debug" / "libesmarket.so"


def test_build_folder_above_the_package(tmp_path):
    """The source tree: bindings/python/esmarket finds <repo>/.build/release."""
    repo = tmp_path / "repo"
    pkg = repo / "bindings" / "python" / "esmarket"
    shutil.copytree(SRC / "esmarket", pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.dylib"))
    (repo / ".build" / "release").mkdir(parents=True)
    shutil.copy2(library_file(), repo / ".build" / "release" / "libesmarket.so")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run(SNIPPET, elsewhere, pkg.parent)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.splitlines()[0]) == repo / ".build" / "release" / "libesmarket.so"


def test_not_found_message_lists_the_places(tmp_path, isolated_package):
    out = run(SNIPPET, tmp_path, isolated_package.parent)
    assert out.returncode != 0
    err = out.stderr
    assert "LibraryNotFoundError" in err
    assert "ESMARKET_LIB" in err
    assert str(isolated_package / "libesmarket.so") in err
    assert str(tmp_path / ".build" / "release" / "libesmarket.so") in err
    assert "swift build" in err
    # importing alone must not need the library
    out = run("import esmarket; print('ok')", tmp_path, isolated_package.parent)
    assert out.returncode == 0 and out.stdout.strip() == "ok"


@pytest.mark.skipif(os.environ.get("ESMARKET_TEST_PIP") != "1",
                    reason="set ESMARKET_TEST_PIP=1 to test `pip install` in a fresh venv")
def test_pip_install_bundles_the_library(tmp_path):
    repo = SRC.parents[1]
    built = repo / ".build" / "release" / "libesmarket.so"
    if not built.is_file():
        pytest.skip("build the library first")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "--quiet",
                          str(repo / "bindings" / "python")],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("ESMARKET_LIB", "PYTHONPATH")}
    out = subprocess.run([str(py), "-c", SNIPPET], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    where = Path(out.stdout.splitlines()[0])
    assert where.name == "libesmarket.so" and "site-packages" in where.parts
    assert where.read_bytes() == built.read_bytes()
