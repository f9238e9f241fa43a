"""The download of an export zip through its signed link (A-EXPORT).

A bad signature is a 404; so is a job the signed-in person cannot reach (another tenant's, or
without the Export permission for its service): never a 403, never the file. A link past its
72 hours gets a page that says so, with status 410.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_safe

from backstop.audit import events as audit
from backstop.backups import downloads
from backstop.security.middleware import enforce


@require_safe
@login_required
def export_download(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        link = downloads.read_link(token)
    except signing.BadSignature:
        raise Http404("No such download") from None
    job = downloads.reachable_job(request.user, link.job_id)
    if job is None or not job.result.get("file"):
        raise Http404("No such download")
    # The link names no account in its URL: the account's trusted addresses and 2FA apply here.
    if stop := enforce(request, account_id=job.account_id):
        return stop
    expires = downloads.expires_at(job, link.issued_at)
    path = downloads.zip_file(job)
    if downloads.now() >= expires or path is None:
        context = {
            "job": job,
            "expired_on": expires if downloads.now() >= expires else None,
            "hours": downloads.EXPORT_LINK_HOURS,
        }
        return render(request, "backups/export_expired.html", context, status=410)
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=downloads.download_name(job),
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    task = job.task
    audit.export_downloaded(
        request,
        job.account,
        task.service if task else "",
        task.name if task else "",
        f"Download of the export of {job.params.get('label', '')} (job {job.pk})",
    )
    return response
