"""Backup tasks, entities, jobs, the snapshot catalog and system activity.

Every model here is tenant-owned: it carries `account` and is read through
`TenantQuerySet.restrict(user, action)`. Catalog tables lead their indexes with the account, so
they can be partitioned by account later (DESIGN "Toward internet scale").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from backstop import secrets
from backstop.tenancy.models import Account
from backstop.tenancy.permissions import SERVICES
from backstop.tenancy.scoping import TenantQuerySet

DELETE_GRACE = timedelta(days=7)
SERVICE_CHOICES = [(s.code, s.label) for s in SERVICES]


class BackupTask(models.Model):
    """One connection to one service (A-TASK) with its settings (A-SETTINGS)."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        EVERY_3_DAYS = "3days", "Every 3 days"
        WEEKLY = "weekly", "Weekly"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="backup_tasks")
    service = models.CharField(max_length=30, choices=SERVICE_CHOICES)
    name = models.CharField(max_length=200)
    connected = models.BooleanField(default=True)
    disconnected_reason = models.CharField(max_length=300, blank=True)
    source_tenant = models.CharField(
        max_length=300,
        blank=True,
        help_text="The source's tenant (Box enterprise, IMAP host): limits apply per tenant.",
    )
    connector_settings = models.JSONField(default=dict, blank=True)
    sealed_secrets = models.BinaryField(null=True, blank=True, editable=False)

    index_for_search = models.BooleanField("index all data for search", default=True)
    auto_activate = models.BooleanField("automatically activate new entities", default=True)
    archive_days = models.PositiveIntegerField(
        "retain auto-archived backups (days)", default=0, help_text="0 keeps them forever."
    )
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Set by support; empty keeps every snapshot."
    )
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    backup_hour = models.PositiveSmallIntegerField("backup hour (UTC)", default=2)

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    discovered_at = models.DateTimeField(null=True, blank=True)
    last_scheduled_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("created_at", "pk")
        indexes = (models.Index(fields=("account", "deleted_at"), name="task_account_idx"),)

    def __str__(self) -> str:
        return self.name

    @property
    def secrets_context(self) -> str:
        return f"task:{self.pk}:{self.account_id}"

    def get_secrets(self) -> dict[str, Any]:
        return secrets.unseal(self.sealed_secrets, self.secrets_context)

    def set_secrets(self, value: dict[str, Any]) -> None:
        """Needs a primary key: save the task first."""
        self.sealed_secrets = secrets.seal(value, self.secrets_context)

    @property
    def frequency_days(self) -> int:
        return {"daily": 1, "3days": 3, "weekly": 7}[self.frequency]

    @property
    def purge_after(self) -> datetime | None:
        return self.deleted_at + DELETE_GRACE if self.deleted_at else None


class Entity(models.Model):
    """A user, a mailbox: what a task protects (A-ENTITIES)."""

    class Status(models.TextChoices):
        NOT_ACTIVE = "not_active", "Not Active"
        SCHEDULED = "scheduled", "Scheduled"
        IN_PROCESS = "in_process", "In Process"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        OTHER_TASK = "other_task", "Backed-up in another task"
        ARCHIVED = "archived", "Archived"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(BackupTask, on_delete=models.CASCADE, related_name="entities")
    key = models.CharField(max_length=300, help_text="The entity's id at the source.")
    name = models.CharField(max_length=300)
    email = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=30, default="user")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_ACTIVE)
    # The status to return to when a pause or a run ends.
    cursor = models.TextField(blank=True)
    retry_items = models.JSONField(default=list, blank=True, help_text="Items that failed last run.")
    items = models.BigIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    first_backup_at = models.DateTimeField(null=True, blank=True)
    last_backup_at = models.DateTimeField(null=True, blank=True)
    last_result = models.CharField(max_length=20, blank=True)
    last_snapshot = models.CharField(max_length=64, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    discovered_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("name", "pk")
        constraints = (models.UniqueConstraint(fields=("task", "key"), name="entity_key_per_task"),)
        indexes = (models.Index(fields=("account", "task", "status"), name="entity_status_idx"),)

    def __str__(self) -> str:
        return self.name

    @property
    def repo_entity(self) -> str:
        """The entity's name inside the account's repository: stable and free of personal data."""
        return f"t{self.task_id}-e{self.pk}"

    @property
    def is_protected(self) -> bool:
        return self.status in (self.Status.SCHEDULED, self.Status.IN_PROCESS, self.Status.ACTIVE)


class Job(models.Model):
    """One unit of work. The queue carries only its id: this row is the truth."""

    class Kind(models.TextChoices):
        BACKUP = "backup", "Backup"
        RESTORE = "restore", "Restore"
        EXPORT = "export", "Export"
        PURGE = "purge", "Purge"
        REPORT = "report", "Report"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "In progress"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partially succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINISHED = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED, Status.CANCELED)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    task = models.ForeignKey(BackupTask, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    entity = models.ForeignKey(Entity, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scheduled = models.BooleanField(default=False, help_text="Started by the scheduler, not a person.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    priority = models.SmallIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retry later: a backoff.")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)

    items_done = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    items_failed = models.BigIntegerField(default=0)
    checkpoint = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = (
            models.Index(fields=("status", "lease_until"), name="job_lease_idx"),
            models.Index(fields=("account", "kind", "created_at"), name="job_account_idx"),
            models.Index(fields=("entity", "status"), name="job_entity_idx"),
        )
        constraints = (
            # At most one unfinished backup per entity: Backup Now twice, or the scheduler and a
            # person at once, make one job.
            models.UniqueConstraint(
                fields=("entity",),
                condition=Q(kind="backup", status__in=("pending", "running")),
                name="one_open_backup_per_entity",
            ),
        )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.ended_at or timezone.now()) - self.started_at


class JobLog(models.Model):
    """Log lines of a job, shown by View Log."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    text = models.TextField()

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("at", "pk")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.text}"


class Snapshot(models.Model):
    """The catalog's record of one committed engine snapshot of one entity."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="snapshots")
    snapshot_id = models.CharField(max_length=64)
    time = models.DateTimeField()
    items = models.BigIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    added = models.BigIntegerField(default=0)
    changed = models.BigIntegerField(default=0)
    removed = models.BigIntegerField(default=0)
    bytes_stored = models.BigIntegerField(default=0)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-time", "-pk")
        constraints = (models.UniqueConstraint(fields=("entity", "snapshot_id"), name="snapshot_once"),)
        indexes = (models.Index(fields=("account", "entity", "time"), name="snapshot_time_idx"),)

    def __str__(self) -> str:
        return self.snapshot_id[:12]


class CatalogItem(models.Model):
    """One version of one item, valid from the snapshot that brought it until the snapshot that
    replaced or removed it (`valid_to` empty: still current)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=500)
    path = models.TextField()
    folder = models.TextField(default="", help_text="The path's folder: what a folder listing reads.")
    name = models.CharField(max_length=500)
    kind = models.CharField(max_length=20)
    author = models.CharField(max_length=300, blank=True)
    size = models.BigIntegerField(default=0)
    modified = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=300)
    content_version = models.CharField(max_length=300)
    meta = models.JSONField(default=dict)
    text = models.TextField(
        blank=True, default="", help_text="Body text for search: mail bodies, text files (64 KiB at most)."
    )
    valid_from = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="+")
    valid_to = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = (
            models.Index(fields=("account", "entity", "key"), name="catalog_key_idx"),
            models.Index(fields=("account", "entity", "valid_from"), name="catalog_from_idx"),
            models.Index(fields=("account", "entity", "valid_to"), name="catalog_to_idx"),
            # A folder as of a snapshot: read from the index alone.
            models.Index(
                fields=("account", "entity", "folder", "valid_from", "valid_to"), name="catalog_folder_idx"
            ),
        )

    def __str__(self) -> str:
        return self.path


class ActivityEvent(models.Model):
    """A System Activity line (A-SYSACT): one per backup, restore or export job run."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partially succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    activity = models.CharField(max_length=20)  # backup, restore, export
    service = models.CharField(max_length=30, choices=SERVICE_CHOICES)
    sub_service = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    task = models.ForeignKey(BackupTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    task_name = models.CharField(max_length=200)
    item = models.CharField(max_length=300, help_text="The entity the event is about.")
    duration = models.DurationField(null=True, blank=True)
    items = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    summary = models.TextField(blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-at", "-pk")
        indexes = (models.Index(fields=("account", "at"), name="activity_at_idx"),)

    def __str__(self) -> str:
        return f"{self.activity} {self.item}: {self.get_status_display()}"


class EntityRunStats(models.Model):
    """What one successful backup run changed in one entity: the history smart alerts measure
    a run against (backups/anomaly.py)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="run_stats")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    items_before = models.BigIntegerField(default=0)
    items = models.BigIntegerField(default=0)
    added = models.BigIntegerField(default=0)
    changed = models.BigIntegerField(default=0)
    removed = models.BigIntegerField(default=0)
    renamed = models.BigIntegerField(default=0)
    rewritten = models.BigIntegerField(default=0, help_text="Changed items whose content changed.")
    sampled = models.BigIntegerField(default=0, help_text="New contents measured for compressibility.")
    sample_bytes = models.BigIntegerField(default=0)
    sample_compressed = models.BigIntegerField(default=0)
    incompressible = models.BigIntegerField(default=0)
    turned_incompressible = models.BigIntegerField(default=0)
    alerted = models.BooleanField(default=False, help_text="This run raised a smart alert.")

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-at", "-pk")
        indexes = (models.Index(fields=("account", "entity", "at"), name="runstats_entity_idx"),)

    def __str__(self) -> str:
        return f"{self.entity_id} at {self.at:%Y-%m-%d %H:%M}"


class SmartAlert(models.Model):
    """A backup run whose change was abnormal for its entity: mass deletion, mass modification,
    a rename storm or content turned incompressible. Names the last clean snapshot to recover
    from; shown on the task page until acknowledged."""

    class Kind(models.TextChoices):
        ENCRYPTION = "encryption", "Possible encryption"
        MASS_DELETION = "mass_deletion", "Mass deletion"
        MASS_MODIFICATION = "mass_modification", "Mass modification"
        RENAME_STORM = "rename_storm", "Rename storm"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(BackupTask, on_delete=models.CASCADE, related_name="+")
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="smart_alerts")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kinds = models.JSONField(default=list, help_text="Kind codes, the most serious first.")
    detail = models.TextField()
    snapshot = models.ForeignKey(
        Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The run's."
    )
    clean_snapshot = models.ForeignKey(
        Snapshot,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The last snapshot before the anomaly.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = (models.Index(fields=("account", "entity", "acknowledged_at"), name="smartalert_open_idx"),)

    def __str__(self) -> str:
        return f"{self.label} in {self.entity_id}"

    @property
    def kind(self) -> str:
        return self.kinds[0] if self.kinds else ""

    @property
    def label(self) -> str:
        return ", ".join(self.Kind(k).label if k in self.Kind.values else k for k in self.kinds)


class AccountStorage(models.Model):
    """A customer account's own storage (BYOS, P-ADD): the account's backup repository lives in
    this bucket or container instead of its data center's store. The credentials are sealed,
    bound to the account, and never shown again; the rest says where the repository is."""

    class Kind(models.TextChoices):
        S3 = "s3", "Amazon S3"
        S3_COMPATIBLE = "s3_compatible", "S3-compatible storage"
        AZURE = "azure", "Azure Blob Storage"
        GCS = "gcs", "Google Cloud Storage"

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="own_storage")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    bucket = models.CharField("bucket or container", max_length=255)
    prefix = models.CharField(max_length=512, blank=True, help_text="A folder inside the bucket.")
    region = models.CharField(max_length=64, blank=True)
    endpoint = models.CharField(max_length=500, blank=True, help_text="S3-compatible and other Azure clouds.")
    account_name = models.CharField("storage account name", max_length=100, blank=True)
    sealed_credentials = models.BinaryField(editable=False)
    checked_at = models.DateTimeField(
        default=timezone.now, help_text="When a test object was last written and deleted."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    def __str__(self) -> str:
        noun = "container" if self.kind == self.Kind.AZURE else "bucket"
        return f"{self.get_kind_display()} {noun} {self.bucket}"

    @property
    def credentials_context(self) -> str:
        return f"storage:{self.account_id}"

    def get_credentials(self) -> dict[str, Any]:
        return secrets.unseal(self.sealed_credentials, self.credentials_context)

    def set_credentials(self, value: dict[str, Any]) -> None:
        """Needs the account: set it first."""
        self.sealed_credentials = secrets.seal(value, self.credentials_context)

    def destination(self) -> dict[str, str]:
        """Where it is, in the shape of an export destination (`export.validate_destination`)."""
        fields = {
            "kind": self.kind,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "region": self.region,
            "endpoint": self.endpoint,
            "account_name": self.account_name,
        }
        return {key: value for key, value in fields.items() if value}


class AccountBackupSummary(models.Model):
    """An account's backup status and stored size, kept by `backups.summary` wherever an entity's
    last result, size or liveness changes, so a partner's dashboard reads one row per account
    instead of every entity (P-DASH). No row: never backed up."""

    class State(models.TextChoices):
        NONE = "none", "No backup"
        SUCCESSFUL = "ok", "Successful"
        PARTIAL = "partial", "Partially failed"
        FAILED = "failed", "Failed"

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="backup_summary"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.NONE)
    size = models.BigIntegerField(default=0, help_text="Bytes in the last snapshots of the entities kept.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = (
            models.Index(fields=("state",), name="backup_summary_state_idx"),
            models.Index(fields=("size",), name="backup_summary_size_idx"),
        )

    def __str__(self) -> str:
        return f"{self.account_id}: {self.get_state_display()}"
