"""Kizuki's HTTP face: the JSON API under ``/api/v1`` and the service team's web pages.

Build the app with :func:`api.main.create_app`; nothing is created at import time.
"""
