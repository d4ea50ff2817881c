"""Helpers shared by the test folders (real peers, temp dirs, timeouts)."""
