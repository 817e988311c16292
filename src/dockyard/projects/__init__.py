"""Projects and repositories."""
