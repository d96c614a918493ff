"""Masterplan domain foundation.

Kept free of third-party imports so that ``python3 -m app`` can bootstrap the
virtualenv before any dependency is installed.
"""
