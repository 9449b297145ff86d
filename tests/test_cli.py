"""The ``diff9d`` entry point: help, version, and every registered family parses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from diff9d_ros import __version__, cli


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert len(actions) == 1
    for name in actions[0].choices:
        with pytest.raises(SystemExit) as stop:
            cli.main([name, "--help"])
        assert stop.value.code == 0, name
        assert f"diff9d {name}" in capsys.readouterr().out


def test_console_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "diff9d_ros.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "usage: diff9d" in done.stdout
