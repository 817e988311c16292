"""The inventory of an OCI image: its distribution and packages, read from its layer blobs."""

from dockyard.scanning.inventory.errors import LayerError, PackageFileError
from dockyard.scanning.inventory.layers import inventory

__all__ = ["LayerError", "PackageFileError", "inventory"]
