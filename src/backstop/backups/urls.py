"""Backup task pages, under /a/<account_id>/backups/."""

from django.urls import path

from backstop.backups.views import add, alerts, entities, task

urlpatterns = [
    path("new/", add.picker, name="backup_add"),
    path("new/imap/", add.add_imap, name="backup_add_imap"),
    path("new/box/", add.add_box, name="backup_add_box"),
    path("<int:task_id>/", task.task_page, name="backup_task"),
    path("<int:task_id>/settings/", task.task_settings, name="backup_task_settings"),
    path("<int:task_id>/rename/", task.task_rename, name="backup_task_rename"),
    path("<int:task_id>/reconnect/", task.task_reconnect, name="backup_task_reconnect"),
    path("<int:task_id>/discover/", task.task_discover, name="backup_task_discover"),
    path("<int:task_id>/delete/", task.task_delete, name="backup_task_delete"),
    path("<int:task_id>/entities/", entities.entity_action, name="backup_entities_action"),
    path(
        "<int:task_id>/alerts/<int:alert_id>/acknowledge/",
        alerts.acknowledge,
        name="backup_smart_alert_acknowledge",
    ),
]
