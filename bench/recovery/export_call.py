"""How the export child drives `backstop.backups.export`: an export job to a zip download, taken
and run as the runner does (`jobs.claim`, `jobs.Control`, `export.run_export`) without the
finishing steps (activity line, e-mail), which are not the export's cost."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def write_zip(entity: Any, selection: Any, out: Path) -> str:
    """Writes the selection's zip and moves it to `out`; returns what wrote it. Raises when the
    export did not succeed."""
    from backstop.backups import export, jobs
    from backstop.backups.models import Job

    job = jobs.create(
        Job.Kind.EXPORT,
        entity.account_id,
        task=entity.task,
        entity=entity,
        params={"selection": selection.as_params(), "destination": {"kind": "download"}, "label": "bench"},
    )
    assert job is not None
    claimed = jobs.claim(job.pk)
    assert claimed is not None, "the export job could not be claimed"
    with jobs.Control(claimed) as control:
        outcome = export.run_export(claimed, control)
    if outcome.status != Job.Status.SUCCEEDED:
        raise RuntimeError(f"export {outcome.status}: {outcome.error}")
    shutil.move(export.zip_path(claimed), out)
    return "export.run_export (a download: export._ZipExport)"
