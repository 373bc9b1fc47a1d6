"""Data: the SLC benchmark source, temporal sampling and grain pipelines (clips stay uint8)."""
