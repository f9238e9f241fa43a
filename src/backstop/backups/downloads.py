"""Signed links to export zips (A-EXPORT), valid 72 hours.

A link is `/exports/<token>/`: the job id signed with Django's `TimestampSigner` (its own salt,
so no other signed value of the site opens it). Whoever opens it must still be signed in and
reach the job through `restrict(user, EXPORT)`: a link forwarded to someone of another tenant
is a 404. A link stops working 72 hours after it was made, and in any case 72 hours after the
export ended, when `export.expire_exports` deletes the zip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core import signing
from django.urls import reverse

from backstop.backups.export import EXPORT_HOURS, zip_path
from backstop.backups.models import Job
from backstop.tenancy import permissions as perms

EXPORT_LINK_HOURS = EXPORT_HOURS
SALT = "backstop.backups.export-download"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def link_for(job: Job) -> str:
    """The absolute path of the job's download link (`/exports/<token>/`); build the full URL
    with the site's base URL for e-mails."""
    return reverse("export_download", args=[_signer().sign(str(job.pk))])


@dataclass(frozen=True, slots=True)
class Link:
    job_id: int
    issued_at: datetime


def read_link(token: str) -> Link:
    """The job id and the time a link was made; raises `signing.BadSignature` for a token this
    site did not sign (whatever its age: expiry is decided with the job, see `expires_at`)."""
    signer = _signer()
    value = signing.Signer.unsign(signer, token)  # the signature over "<job>:<timestamp>"
    job_text, _, stamp = value.rpartition(signer.sep)
    try:
        issued = datetime.fromtimestamp(signing.b62_decode(stamp), UTC)
        job_id = int(job_text)
    except (ValueError, OverflowError, OSError):
        raise signing.BadSignature("malformed export link") from None
    return Link(job_id, issued)


def now() -> datetime:
    """The clock links are judged by (`time.time`, as the signer's own)."""
    return datetime.fromtimestamp(time.time(), UTC)


def expires_at(job: Job, issued_at: datetime) -> datetime:
    """72 hours after the link was made, and no later than 72 hours after the export ended."""
    limit = timedelta(hours=EXPORT_LINK_HOURS)
    ends = issued_at + limit
    if job.ended_at is not None:
        ends = min(ends, job.ended_at + limit)
    return ends


def reachable_job(user: Any, job_id: int) -> Job | None:
    """The export job if `user` may export in its account (and its task's service)."""
    job = (
        Job.objects.restrict(user, perms.EXPORT)
        .filter(pk=job_id, kind=Job.Kind.EXPORT)
        .select_related("task")
        .first()
    )
    if job is None:
        return None
    if job.task is not None and not (
        Job.objects.restrict(user, perms.EXPORT, job.task.service).filter(pk=job.pk).exists()
    ):
        return None
    return job


def zip_file(job: Job) -> Path | None:
    """The job's zip when the export produced one and it is still on disk."""
    if job.status not in (Job.Status.SUCCEEDED, Job.Status.PARTIAL) or not job.result.get("file"):
        return None
    path = zip_path(job)
    return path if path.is_file() else None


def is_available(job: Job, at: datetime | None = None) -> bool:
    """Whether the Jobs page should offer Download Results for this job."""
    if zip_file(job) is None or job.ended_at is None:
        return False
    return (at or now()) < job.ended_at + timedelta(hours=EXPORT_LINK_HOURS)


def download_name(job: Job) -> str:
    """A plain file name for the browser: `backstop-export-<job>-<date>.zip`."""
    day = (job.ended_at or job.created_at).astimezone(UTC)
    return f"backstop-export-{job.pk}-{day:%Y-%m-%d}.zip"
