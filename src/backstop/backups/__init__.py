"""Backup tasks, their entities, jobs, the snapshot catalog and system activity (A-TASK,
A-SETTINGS, A-ENTITIES, A-DELTASK)."""
