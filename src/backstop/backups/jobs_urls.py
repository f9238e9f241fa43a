"""The Jobs page (A-JOBS), under /a/<account_id>/jobs/."""

from django.urls import path

from backstop.backups.views import jobs

urlpatterns = [
    path("", jobs.jobs_page, name="account_jobs"),
    path("<int:job_id>/log/", jobs.job_log, name="account_job_log"),
    path("<int:job_id>/cancel/", jobs.job_cancel, name="account_job_cancel"),
    path("<int:job_id>/results/", jobs.job_results, name="account_job_results"),
]
