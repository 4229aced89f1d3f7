"""`make install` into a temporary prefix, then C programs built only from what it installed:
with `pkg-config --cflags --libs esmarket`, and the CMake consumer of examples/cmake. Also README's
C build line from the build folder, DESTDIR, and `make uninstall`."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

BUILT = (REPO / ".build" / "release" / "libesmarket.so").is_file() and (REPO / "bin" / "esmarket").is_file()
pytestmark = [
    pytest.mark.skipif(not BUILT, reason="needs `make build` (libesmarket.so and bin/esmarket)"),
    pytest.mark.skipif(shutil.which("make") is None or shutil.which("pkg-config") is None or shutil.which("cc") is None,
                       reason="needs make, pkg-config and cc"),
]
CONSUMER = REPO / "examples" / "cmake" / "main.c"
INSTALLED = ["lib/libesmarket.so", "include/esmarket.h", "lib/pkgconfig/esmarket.pc", "bin/esmarket"]


def make(*args):
    out = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefix")
    make("install", f"PREFIX={root}")
    return root


def pkg_config(prefix, *args):
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    return subprocess.run(["pkg-config", *args, "esmarket"], capture_output=True, text=True, env=env,
                          check=True).stdout.split()


def run_consumer(exe, env=None):
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_install_puts_every_file_under_the_prefix(prefix, esm):
    for name in INSTALLED:
        assert (prefix / name).is_file(), name
    assert pkg_config(prefix, "--modversion") == [esm.version()]
    assert pkg_config(prefix, "--variable=prefix") == [str(prefix)]
    installed_cli = subprocess.run([str(prefix / "bin" / "esmarket"), "--version"], capture_output=True, text=True)
    assert installed_cli.stdout.strip() == esm.version()


def test_a_c_program_builds_with_pkg_config_only(prefix, tmp_path, esm):
    flags = pkg_config(prefix, "--cflags", "--libs")
    assert f"-I{prefix}/include" in flags and f"-L{prefix}/lib" in flags and "-lesmarket" in flags
    exe = tmp_path / "consumer"
    build = subprocess.run(["cc", "-Wall", "-Wextra", "-Werror", str(CONSUMER), "-o", str(exe), *flags],
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    # The prefix is not on the loader's path: the program finds the installed library through
    # LD_LIBRARY_PATH, not the build folder (which is not mentioned anywhere here).
    env = dict(os.environ, LD_LIBRARY_PATH=str(prefix / "lib"))
    out = run_consumer(exe, env)
    assert out.startswith(f"esmarket {esm.version()} (esmarket/1)")
    assert "status solved" in out
    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True, env=env).stdout
    assert f"{prefix}/lib/libesmarket.so" in ldd


def test_static_flags_list_json_c(prefix):
    assert "-ljson-c" in pkg_config(prefix, "--libs", "--static")
    assert "-ljson-c" not in pkg_config(prefix, "--libs")


def test_readme_c_line_runs_as_written(tmp_path):
    readme = (REPO / "README.md").read_text()
    line = re.search(r"^cc -I include prog\.c .*$", readme, re.M).group(0)
    shutil.copy(CONSUMER, tmp_path / "prog.c")
    command = line.replace("prog.c", str(tmp_path / "prog.c")).replace("-o prog", f"-o {tmp_path / 'prog'}")
    build = subprocess.run(command, shell=True, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    assert "status solved" in run_consumer(tmp_path / "prog", env)


def test_cmake_consumer(prefix, tmp_path, esm):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (make test-deps installs it)")
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    env.pop("LD_LIBRARY_PATH", None)
    build = tmp_path / "build"
    for command in (["cmake", "-S", str(REPO / "examples" / "cmake"), "-B", str(build)],
                    ["cmake", "--build", str(build)]):
        out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
    out = run_consumer(build / "esmarket_example", env)  # BUILD_RPATH points at the prefix
    assert out.startswith(f"esmarket {esm.version()}") and "status solved" in out


def test_destdir_and_uninstall(tmp_path):
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}", "PREFIX=/opt/esm")
    for name in INSTALLED:
        assert (stage / "opt" / "esm" / name).is_file(), name
    # The .pc names the final prefix, not the staging folder.
    assert "prefix=/opt/esm\n" in (stage / "opt" / "esm" / "lib" / "pkgconfig" / "esmarket.pc").read_text()
    make("uninstall", f"DESTDIR={stage}", "PREFIX=/opt/esm")
    assert not [p for p in stage.rglob("*") if p.is_file()]
