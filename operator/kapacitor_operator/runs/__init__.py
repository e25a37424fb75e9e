"""The TaskRun engine's executor: one worker per live TaskRun performs what
`reconcile.taskrun_decide.decide` asks, writes status with a resourceVersion
precondition, and waits for events (TaskRun, Job and Pod changes, timers, the end of a
Kapacitor call) instead of polling. kopf only feeds it events (handlers/taskrun.py).
"""
