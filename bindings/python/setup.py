"""Build hook for the esmarket Python package.

The package itself is pure Python (ctypes). When the Swift library has been built
(`swift build -c release --product esmarket` at the repository root), the build step copies
`../../.build/release/libesmarket.so` into the package, so an installed package finds the library
"next to itself" without any environment variable. It also copies the contract's JSON Schemas
(`../../schema/*.schema.json`, the one source) into `esmarket/schema/` for `esmarket.schema(name)`. When the library is not there, the install
still works and `esmarket` looks for the library at run time (see `esmarket._native`).

Environment (install time):
  ESMARKET_BUNDLE_LIB=/path/to/libesmarket.so   bundle this file instead
  ESMARKET_BUNDLE_LIB=0                         bundle nothing
"""
import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
LIB_NAME = "libesmarket.so"
SCHEMA_DIR = HERE.parent.parent / "schema"


def _library_to_bundle():
    env = os.environ.get("ESMARKET_BUNDLE_LIB")
    if env is not None:
        if env.strip() in ("", "0", "no", "false"):
            return None
        path = Path(env).expanduser()
        if not path.is_file():
            raise SystemExit(f"ESMARKET_BUNDLE_LIB={env!r} is not a file")
        return path
    candidate = HERE.parent.parent / ".build" / "release" / LIB_NAME
    return candidate if candidate.is_file() else None


BUNDLED = _library_to_bundle()


class BuildPyWithLibrary(build_py):
    """build_py that also copies libesmarket.so into the built package when it exists."""

    def run(self):
        super().run()
        target_dir = Path(self.build_lib) / "esmarket"
        schemas = sorted(SCHEMA_DIR.glob("*.schema.json"))
        if schemas:
            (target_dir / "schema").mkdir(parents=True, exist_ok=True)
            for path in schemas:
                shutil.copy2(path, target_dir / "schema" / path.name)
        target = target_dir / LIB_NAME
        if BUNDLED is not None:
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(BUNDLED, target)
            self.announce(f"esmarket: bundled {BUNDLED} -> {target}", level=2)
        elif target.exists():
            # A stale copy from an earlier build must not be installed.
            target.unlink()


try:  # setuptools >= 70.1 carries bdist_wheel; older ones need the wheel package
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    from wheel.bdist_wheel import bdist_wheel


class PlatformWheel(bdist_wheel):
    """Tags a wheel that carries libesmarket.so `py3-none-<platform>`: the library is loaded with
    ctypes, so the wheel fits every Python 3 on that platform, not one CPython ABI."""

    def get_tag(self):
        python, abi, platform = super().get_tag()
        return ("py3", "none", platform) if BUNDLED is not None else (python, abi, platform)


class BinaryDistribution(Distribution):
    """A wheel that carries libesmarket.so is platform specific."""

    def has_ext_modules(self):
        return BUNDLED is not None


setup(cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel}, distclass=BinaryDistribution)
