"""ros/nodes"""
