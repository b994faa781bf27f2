"""Static daily reports (HTML with inline PNGs) read from the marts: python -m pipelines.reporting.cli."""
