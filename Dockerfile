# diff9d_ros on ROS 2 Humble (Ubuntu 22.04, Python 3.10), CPU torch by default.
#
#   docker build -t diff9d_ros:humble .
#   docker build -t diff9d_ros:humble-cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 .
#
# Run robot.launch.py with a RealSense passed through (USB devices are character major 189):
#   docker run --rm -it --net=host --ipc=host --device-cgroup-rule='c 189:* rmw' \
#     -v /dev/bus/usb:/dev/bus/usb diff9d_ros:humble
# (add --gpus all and `device:=cuda` to the command for the CUDA image). docs/install.md has more.
# Written from the layout of the official ros:humble images; it has not been built by the CI.
ARG ROS_DISTRO=humble
FROM ros:${ROS_DISTRO}-ros-base

ARG ROS_DISTRO
# torch before anything else, so that no dependency pulls another build of it (scripts/install.sh).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC="torch>=2.1,<=2.13.0"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-pip python3-colcon-common-extensions \
        libusb-1.0-0 libgl1 libgomp1 libegl1 \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m pip install "${TORCH_SPEC}" --index-url "${TORCH_INDEX_URL}"

WORKDIR /ws
COPY package.xml src/diff9d_ros/package.xml
# ROS packages and the Python dependencies with rosdep keys (package.xml); Gazebo and RViz are for
# sim.launch.py and the desktop, not for a robot container.
RUN apt-get update && rosdep update --rosdistro "${ROS_DISTRO}" \
    && rosdep install -y --rosdistro "${ROS_DISTRO}" --from-paths src --ignore-src \
        --skip-keys "ros_gz_sim ros_gz_bridge rviz2 ament_copyright ament_flake8 launch_testing launch_testing_ros" \
    && rm -rf /var/lib/apt/lists/*

COPY . src/diff9d_ros
# The rest of the Python dependencies (manifold3d, ...), then the ament package.
RUN python3 -m pip install "src/diff9d_ros" \
    && source "/opt/ros/${ROS_DISTRO}/setup.bash" \
    && colcon build --merge-install --packages-select diff9d_ros \
    && rm -rf build log

RUN printf '#!/bin/bash\nset -e\nsource "/opt/ros/%s/setup.bash"\nsource /ws/install/setup.bash\nexec "$@"\n' \
        "${ROS_DISTRO}" > /entrypoint.sh && chmod +x /entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
CMD ["ros2", "launch", "diff9d_ros", "robot.launch.py", "rviz:=false"]
