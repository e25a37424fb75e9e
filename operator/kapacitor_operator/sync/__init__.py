"""Controllers for the kinds that mirror Kapacitor objects: a work queue per kind fed by
watch events (kopf only delivers them), workers that reconcile one object at a time, and
drift detection by one list per Kapacitor server.
"""
