"""Metrics read from the database, so every web process and scheduler replica tells the same
story: the summary behind the API and the pages' chart (`summary`), and the Prometheus
collector behind `/metrics` (`prometheus`)."""
