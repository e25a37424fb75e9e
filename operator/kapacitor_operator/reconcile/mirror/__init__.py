"""One reconcile shape for every kind that mirrors a Kapacitor object (tasks, templates,
alert handlers): observe (read Kapacitor) -> decide (a pure function: create, update,
recreate or nothing) -> act (write only what the plan says) -> status. The shared parts
(conditions, drift Events, claims, error mapping, deletion) live here once; a kind brings
its model, a small client surface and its decide function.
"""
