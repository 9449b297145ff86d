"""camera_node: a RealSense (or a RealSense recording) as aligned rgb8 + depth Images and CameraInfo.

Colour and depth come from :class:`~diff9d_ros.sources.realsense.RealSenseCamera` (depth aligned
to colour by librealsense, as realsense-ros with ``align_depth.enable:=true``); all three messages
of one frame share one header in the colour optical frame. The device is opened on activate and
closed on deactivate; a reader thread feeds the newest frame to the publisher.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from diff9d_ros.ros.nodes.lifecycle_base import Diff9dNode, spin_node
from diff9d_ros.ros.nodes.params import realsense_config
from diff9d_ros.ros.outputs import camera_messages
from diff9d_ros.sources.realsense import RealSenseCamera


class CameraNode(Diff9dNode):
    """Publishes ``rgb/image``, ``depth/image`` and ``rgb/camera_info`` from a RealSense."""

    NODE = "camera_node"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.camera: RealSenseCamera | None = None
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    def configure_node(self) -> None:
        self.config = realsense_config(self.params)

    def load_model(self) -> None:
        self.camera = RealSenseCamera(self.config).start()
        source = self.config.recording or self.config.serial or "the first RealSense found"
        self.get_logger().info(f"streaming from {source}, colour intrinsics {self.camera.intrinsics}")

    def release_model(self) -> None:
        if self.camera is not None:
            self.camera.stop()
            self.camera = None

    def create_inputs(self) -> None:
        self._stop.clear()
        self._reader = threading.Thread(target=self._read, name="camera-reader", daemon=True)
        self._reader.start()

    def destroy_inputs(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join()
            self._reader = None

    def _read(self) -> None:
        use_device_time = self.params["stamp_source"] == "device"
        while not self._stop.is_set() and self.camera is not None:
            try:
                frame = self.camera.read()
            except TimeoutError as error:
                self.warn(f"{error} (camera unplugged, or the recording has ended)")
                continue
            except (RuntimeError, ValueError) as error:
                self.reject(f"bad frameset: {error}")
                continue
            self.stats.on_received(time.monotonic())
            self.submit((frame.stamp_ns if use_device_time else self.now_ns(), frame))

    def process(self, index: int, item: Any) -> bool:
        stamp_ns, frame = item
        messages = camera_messages(frame, stamp_ns, str(self.params["depth_encoding"]), self.types)
        self.outputs["rgb/image"].publish(messages.rgb)
        self.outputs["depth/image"].publish(messages.depth)
        self.outputs["rgb/camera_info"].publish(messages.camera_info)
        return True


def main(args: list[str] | None = None) -> None:
    spin_node(CameraNode, args)


if __name__ == "__main__":
    main()
