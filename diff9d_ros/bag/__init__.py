"""rosbag2 read/write (``io``), offline evaluation and reports."""
