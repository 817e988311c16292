"""The job queue in the metadata database, the cron scheduler, and the worker loop."""
