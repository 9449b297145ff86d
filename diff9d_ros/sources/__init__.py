"""Frame sources: RealSense hardware or recordings (more sources join with the pipeline)."""
