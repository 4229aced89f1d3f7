"""The examples build, run and print what they promise."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SRC, library_file


def test_python_example(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    saved = tmp_path / "case.json"
    out = subprocess.run([sys.executable, str(REPO / "examples" / "python" / "clear_community.py"),
                          "--prosumers", "5000", "--seed", "1", "--save", str(saved)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "status:            solved" in text
    assert "sharing price:" in text and "with the grid:" in text and "timing:" in text
    assert saved.is_file()


def test_python_cosimulation_example():
    """The co-simulation loop through a session (README "Sessions"), on a smaller case."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, str(REPO / "examples" / "python" / "cosimulation.py"),
                          "--prosumers", "1200", "--steps", "12", "--seed", "3"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "steps: 12, solved:" in out.stdout
    assert "last step equals a fresh clear of the session's document: yes" in out.stdout


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("pkg-config") is None,
                    reason="needs cc and pkg-config")
def test_c_example(tmp_path):
    libdir = library_file().parent
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "json-c"], capture_output=True,
                           text=True, check=True).stdout.split()
    exe = tmp_path / "example"
    build = subprocess.run(["cc", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(REPO / "include"),
                            str(REPO / "examples" / "c" / "example.c"), "-o", str(exe),
                            "-L", str(libdir), "-lesmarket", *flags, f"-Wl,-rpath,{libdir}"],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "status: solved" in run.stdout
    assert "price" in run.stdout
    for pid in ("house-1", "house-2", "house-3", "shop", "school"):
        assert pid in run.stdout


def test_python_online_session_example():
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, str(REPO / "examples" / "python" / "online_session.py"),
                          "--prosumers", "12", "--days", "1"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "slots:             96 solved (12 prosumers, 6 batteries)" in out.stdout
    assert "worst bound violation 0.00e+00 kWh" in out.stdout


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("pkg-config") is None,
                    reason="needs cc and pkg-config")
def test_c_online_session_example(tmp_path):
    libdir = library_file().parent
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "json-c"], capture_output=True,
                           text=True, check=True).stdout.split()
    exe = tmp_path / "online_session"
    build = subprocess.run(["cc", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(REPO / "include"),
                            str(REPO / "examples" / "c" / "online_session.c"), "-o", str(exe),
                            "-L", str(libdir), "-lesmarket", *flags, f"-Wl,-rpath,{libdir}"],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), "12", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "slots: 96 solved (12 prosumers, 6 batteries, resumed from a checkpoint at slot 48)" in run.stdout
    assert "all within bounds" in run.stdout


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("pkg-config") is None,
                    reason="needs cc and pkg-config")
def test_c_cosimulation_example(tmp_path):
    libdir = library_file().parent
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "json-c"], capture_output=True,
                           text=True, check=True).stdout.split()
    exe = tmp_path / "cosimulation"
    build = subprocess.run(["cc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(REPO / "include"),
                            str(REPO / "examples" / "c" / "cosimulation.c"), "-o", str(exe),
                            "-L", str(libdir), "-lesmarket", *flags, "-lm", f"-Wl,-rpath,{libdir}"],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), "900", "10"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "steps: 10, cleared: 10" in run.stdout
    assert "last step equals a fresh clear of the session's document: yes" in run.stdout
