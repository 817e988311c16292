"""The token endpoint of the Docker token protocol (shared/specs/docker-auth/)."""
