"""Streaming degradation detection per device and metric, plus a fleet peer model."""
