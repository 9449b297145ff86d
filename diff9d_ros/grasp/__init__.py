"""grasp"""
