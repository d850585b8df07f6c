"""Scale-out on dagster-celery: the run launcher, the long-lived per-device worker and the one-box cluster.

Imported by the instance (daemon, webserver, workers), never by the code location.
"""
