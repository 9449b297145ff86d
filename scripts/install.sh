#!/usr/bin/env bash
# Installs everything diff9d_ros needs (and its tests) into the current Python, from nothing, on a
# Debian or Ubuntu machine (run as root, or in a venv with sudo for apt): system libraries for
# open3d / pyrealsense2 / mujoco, torch, then the package with its test and simulation extras.
# Safe to run again. On ROS 2 Jazzy (Ubuntu 24.04, PEP 668) run it inside a venv: docs/install.md.
#
# Why CPU torch by default: pip's default torch wheel for Linux x86_64 is the CUDA build, which
# pulls several GB of nvidia-* wheels that a robot PC without an NVIDIA GPU never uses, while the
# shipped models run in real time on the CPU. The CPU build comes from PyTorch's CPU index,
# pinned to the release the tests ran with, and is installed before the package so that no
# dependency can pull the CUDA build instead.
#
# A GPU user installs the CUDA build instead (then `device:=cuda` / device: cuda in the YAML):
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 TORCH_VERSION= bash scripts/install.sh
# (any CUDA index of https://pytorch.org/get-started/locally/; an empty TORCH_VERSION takes the
# newest release there). A torch that is already installed, CPU or CUDA, is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${TORCH_VERSION-2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libusb-1.0-0 libgl1 libgomp1 libegl1 >/dev/null
fi

if python3 -c "import torch" 2>/dev/null; then
  echo "keeping the installed torch $(python3 -c 'import torch; print(torch.__version__)')"
else
  # --extra-index-url: where the PyTorch index is unreachable, a configured mirror or wheel folder serves it.
  python3 -m pip install -q "torch${TORCH_VERSION:+==$TORCH_VERSION}" --extra-index-url "$TORCH_INDEX_URL"
fi
python3 -m pip install -q -e ".[test]"
