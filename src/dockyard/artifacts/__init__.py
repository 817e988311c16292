"""Artifacts: manifests, their types, tags and referrers."""
