"""The fast slice of the exactness sweep (bench/sweep_exactness.py --fast; the whole sweep is
`make sweep-exactness`): 30 generated cases with their parameters widened far beyond the
generator's, every answer `solved` or a certificate, every solved answer within its AC voltage
limits and residual tolerance."""
import subprocess
import sys

from conftest import REPO


def test_fast_slice_of_the_exactness_sweep():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "sweep_exactness.py"), "--fast"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "failures: 0" in out.stdout
    assert "sweep: 30 cases" in out.stdout
