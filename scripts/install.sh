#!/usr/bin/env bash
# Installs everything diff9d_ros needs on a fresh Debian machine (run as root), from nothing:
# system libraries for open3d / pyrealsense2 / mujoco, the CPU build of torch, the package and
# its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libusb-1.0-0 libgl1 libgomp1 libegl1 >/dev/null
fi

# The CPU wheel of torch 2.13.0 lies on this machine's disk; installing it first means no
# dependency can pull a CUDA build.
python3 -m pip install -q "torch==2.13.0"
python3 -m pip install -q -e ".[test]"
