"""Root test configuration: every test has a timeout (pyproject sets it)."""
