"""ament_python package that also installs with plain ``pip install .`` (no ROS needed)."""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "diff9d_ros"


def tree_data_files(top: str) -> list[tuple[str, list[str]]]:
    """(install dir, files) pairs for every file below ``top``, keeping the folder structure."""
    pairs = []
    for folder, _, files in os.walk(top):
        paths = [os.path.join(folder, name) for name in files if not name.startswith(".")]
        if paths:
            pairs.append((os.path.join("share", PACKAGE, folder), paths))
    return pairs


def read_version() -> str:
    with open(os.path.join(PACKAGE, "__init__.py"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip('"')
    raise RuntimeError("no __version__ in diff9d_ros/__init__.py")


# Each node's console script says "needs ROS 2: source ..." where rclpy is missing (node_main).
NODES = ("camera_node", "pose_node", "grasp_node", "forecast_node", "people_forecast_node")

SIM = ["mujoco>=3.1", "coacd>=1.0"]

setup(
    name=PACKAGE,
    version=read_version(),
    packages=find_packages(exclude=["tests", "tests.*"]),
    package_data={"diff9d_ros.ros": ["definitions/*/msg/*.msg", "definitions/*/srv/*.srv"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
        *tree_data_files("models"),
        *tree_data_files("urdf"),
        *tree_data_files("sim"),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24,<3",
        "scipy>=1.10",
        # Any build of torch (CPU or CUDA): scripts/install.sh installs the CPU build first; see
        # docs/install.md for CUDA. The upper bound is the newest release the tests ran with.
        "torch>=2.1,<=2.13.0",
        "tqdm>=4.60",
        "pyyaml>=6",
        "matplotlib>=3.7",
        "trimesh>=4.0",
        "open3d>=0.18",
        "rosbags>=0.10",
        "yourdfpy>=0.0.56",
        "manifold3d>=2.3",  # boolean unions of the procedural meshes (synthetic source, baseline priors)
        "pyrealsense2>=2.55",
        "pillow>=9",  # CompressedImage (jpeg/png, compressedDepth)
        # The pose network's CPU engine (diff9d_ros/pose/engines.py); onnx for torch's exporter.
        "onnxruntime>=1.17",
        "onnx>=1.16",
    ],
    extras_require={
        # Grasp trials in simulation (`diff9d grasp eval`, benchmarks/grasp.py); nothing else needs them.
        "sim": SIM,
        # The tests cover the simulation too: `pip install -e ".[test]"` installs everything.
        "test": ["pytest>=7", "ruff>=0.5", "diffusers>=0.27", *SIM],
    },
    zip_safe=True,
    maintainer="diff9d_ros maintainers",
    maintainer_email="maintainers@diff9d-ros.invalid",
    description="Diff9D category-level 9-DoF pose, grasp planning and GeoTDM forecasting for ROS 2.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "diff9d = diff9d_ros.cli:main",
            *(f"{name} = diff9d_ros.ros.node_main:{name}" for name in NODES),
        ],
    },
)
