"""Fetching model files: `ragq models pull` (download, verify, register) and `ragq models quantize`."""
