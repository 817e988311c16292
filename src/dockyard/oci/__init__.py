"""The /v2 face: the OCI Distribution Specification, and nothing else."""
