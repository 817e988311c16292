"""What happened, recorded once by the service that caused it: the audit log's source."""
