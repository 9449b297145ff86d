"""Shared files are found from the source tree (and the same names resolve once installed)."""

from __future__ import annotations

from diff9d_ros.resources import share_dir, share_path


def test_share_dir_has_package_xml() -> None:
    assert (share_dir() / "package.xml").is_file()
    assert share_path("package.xml").read_text(encoding="utf-8").count("<name>diff9d_ros</name>") == 1
