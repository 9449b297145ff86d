"""diff9d_ros: RGB-D perception for robot grasping.

Category-level 9-DoF pose by a conditional diffusion model (Diff9D, sampled with DDIM in
3 steps), grasp planning from those poses, and GeoTDM trajectory forecasting, on a generic
diffusion core. Everything but ``diff9d_ros.ros.nodes`` runs without ROS.
"""

__version__ = "0.1.0"
