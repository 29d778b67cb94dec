"""One way to run a command in its own process, for tests that need one."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*command, env=None, timeout=600):
    """Runs `command` from the repository root; fails the test if it fails.

    `env` entries are added to this process's environment. The timeout
    turns a hang (a stuck collective, a deadlocked teardown) into a failed
    test instead of a stuck CI run. Returns the `CompletedProcess`.
    """
    result = subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def run_module(module, *args, env=None, timeout=600):
    """``python -m module args...`` through `run`."""
    return run(sys.executable, "-m", module, *args, env=env, timeout=timeout)
