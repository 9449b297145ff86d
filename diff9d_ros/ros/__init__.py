"""ROS 2 layer: message conversion and the rosbags type store (no rclpy here); rclpy nodes in ``nodes/``."""
