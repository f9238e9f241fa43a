"""The Recovery pages (A-RECOVER), under /a/<account_id>/recovery/."""

from django.urls import path

from backstop.backups.views import recovery, recovery_action

urlpatterns = [
    path("", recovery.home, name="recovery"),
    path("<int:entity_id>/", recovery.entity_page, name="recovery_entity"),
    path("<int:entity_id>/snapshots/<int:snapshot_id>/", recovery.browse, name="recovery_browse"),
    path("<int:entity_id>/restore/", recovery_action.restore_form, name="recovery_restore"),
    path("<int:entity_id>/export/", recovery_action.export_form, name="recovery_export"),
]
