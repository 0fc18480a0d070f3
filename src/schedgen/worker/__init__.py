"""Workers: Dramatiq actors on the job queue, run in-process or as supervised processes."""
