"""Every benchmark script has a --smoke size and CI runs it, so none can rot unnoticed."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SCRIPTS = sorted(path.stem for path in BENCH.glob("*.py") if 'if __name__ == "__main__":' in path.read_text())


def test_the_scripts_are_found():
    # Helper modules (benchdb, cluster, httpload, texting, wsgi_bench) are not scripts.
    assert {"changelist", "import_leads", "dispatch", "tracking", "hot_latency"} <= set(SCRIPTS)
    assert "benchdb" not in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_has_a_smoke_size(script):
    result = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "--smoke" in result.stdout
    assert "--drop" in result.stdout  # CI leaves no database behind


def test_ci_runs_every_script_at_its_smoke_size():
    ci = (ROOT / ".ci" / "run").read_text()
    loop = re.search(r"for script in ([\w ]+); do\n(.*?)\ndone", ci, re.S)

    assert loop, "the benchmark loop in .ci/run"
    assert sorted(loop.group(1).split()) == SCRIPTS
    assert '"bench/$script.py" --smoke --drop' in loop.group(2)


def test_no_file_in_bench_shadows_a_standard_library_module():
    # A script's folder comes first on its import path: bench/queue.py broke psycopg (which
    # imports `queue`) in every benchmark.
    names = {path.stem for path in BENCH.glob("*.py")}

    assert not names & set(sys.stdlib_module_names)
