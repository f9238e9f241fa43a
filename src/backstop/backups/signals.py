"""What the backup side announces, for the parts that react without the runner knowing them:
notifications (exceptions, auto-discovery, recovery) and smart alerts. Receivers must not raise:
a notice that could not go out never fails the job that caused it."""

from __future__ import annotations

from django.dispatch import Signal

# sender=Job; kwargs: job, entity, status (a Job.Status), result (RunResult | None), error (str).
# Sent once per finished backup job, after its System Activity line is written.
backup_finished = Signal()

# sender=BackupTask; kwargs: task, reason. Sent when a source refuses the task's credentials.
task_disconnected = Signal()

# sender=BackupTask; kwargs: task, entities (list[Entity], the new ones). Sent after a discovery
# that found entities the task did not have, except on the task's first discovery.
entities_discovered = Signal()

# sender=Job; kwargs: job (a finished restore or export, refreshed), summary (str).
recovery_finished = Signal()
