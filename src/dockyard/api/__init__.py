"""The management REST API under /api/v2.0: Harbor's resource names, on dockyard's services."""
