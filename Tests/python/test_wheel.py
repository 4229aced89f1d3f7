"""`make wheel`: the wheel carries libesmarket.so with json-c vendored by auditwheel, installs into
a fresh virtual environment, and clears a market there with the system's json-c and the Swift
toolchain hidden (a private mount namespace bind-mounts /dev/null over libjson-c and an empty
folder over the toolchain). A control run shows the hiding works: the build folder's library,
which links the system json-c, then fails to load."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

BUILT = (REPO / ".build" / "release" / "libesmarket.so").is_file()
pytestmark = [
    pytest.mark.skipif(not BUILT, reason="needs `make build` (libesmarket.so)"),
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]

SMOKE = """
import json, sys, esmarket
problem = esmarket.generate_case("two_layer_voltage", prosumers=200, seed=3)
result = esmarket.clear(problem)
print(json.dumps({"library": str(esmarket.library_path()), "status": result.status,
                  "prosumers": len(result.prosumers)}))
"""


def system_json_c():
    out = subprocess.run(["ldd", str(REPO / ".build" / "release" / "libesmarket.so")], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if "libjson-c" in line and "=>" in line:
            return Path(line.split("=>")[1].split("(")[0].strip()).resolve()
    return None


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESMARKET_", "PYTHON"))}
    env["PATH"] = "/usr/bin:/bin"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    out = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "wheel", f"DIST={dist}"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    wheels = sorted(dist.glob("esmarket-*manylinux*.whl"))
    assert len(wheels) == 1, sorted(p.name for p in dist.iterdir())
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    out = subprocess.run([str(root / "bin" / "pip"), "install", "-q", "--no-index", "--no-deps", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return root


def test_wheel_contents(wheel):
    # Pure Python plus a ctypes library: one wheel for every Python 3 on the platform.
    assert wheel.name.startswith("esmarket-") and "-py3-none-manylinux_" in wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert "esmarket/libesmarket.so" in names
    assert any(n.startswith("esmarket.libs/libjson-c") for n in names), names
    assert "esmarket/schema/problem.schema.json" in names
    assert not any("libswift" in n for n in names), "the Swift runtime is linked statically"


def test_installed_library_resolves_json_c_inside_the_wheel(venv):
    libs = list(venv.glob("lib/python*/site-packages/esmarket/libesmarket.so"))
    assert len(libs) == 1
    out = subprocess.run(["ldd", str(libs[0])], capture_output=True, text=True, check=True).stdout
    json_c = [line for line in out.splitlines() if "libjson-c" in line]
    assert json_c and "esmarket.libs" in json_c[0], out
    assert "not found" not in out and "libswift" not in out, out


def run_hidden(python, script, cwd):
    """Runs `python -c script` with the system json-c and /opt/swift hidden; None when this machine
    does not allow a private mount namespace."""
    target = system_json_c()
    assert target is not None, "the build folder's library does not link json-c"
    hide = [f"mount --bind /dev/null {target}"]
    if Path("/opt/swift").is_dir():
        hide.append("mount -t tmpfs none /opt/swift")
    inner = " && ".join(hide) + f" && exec {python} -c \"$ESM_SCRIPT\""
    env = clean_env()
    env["ESM_SCRIPT"] = script
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None
    return subprocess.run(["unshare", "-m", "sh", "-c", inner], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_wheel_runs_without_json_c_or_swift(venv, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to hide the system json-c")
    out = run_hidden(venv / "bin" / "python", SMOKE, tmp_path)
    if out is None:
        pytest.skip("this machine does not allow a private mount namespace (unshare -m)")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["status"] == "solved" and report["prosumers"] == 200
    assert report["library"].startswith(str(venv)), report

    # Control: the build folder's library links the system json-c, so it must fail to load there.
    control = f"import ctypes; ctypes.CDLL({str(REPO / '.build' / 'release' / 'libesmarket.so')!r})"
    failed = run_hidden(sys.executable, control, tmp_path)
    assert failed is not None and failed.returncode != 0 and "json-c" in failed.stderr, failed.stderr
