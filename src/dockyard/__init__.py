"""dockyard: a registry for every OCI artifact."""

__version__ = "0.1.0"
