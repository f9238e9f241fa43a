"""A few Learning Hub entries for a fresh install, pointing at our documentation; operators
edit, unpublish or add to them in the admin."""

from django.db import migrations

DEFAULTS = (
    (
        "guide",
        10,
        "Your first customer account",
        "Add an account, choose where its backups are stored and start its trial.",
        "/docs/partner/add-account/",
    ),
    (
        "guide",
        20,
        "Reading the dashboard",
        "Trial, backup and billing status at a glance, and how the tiles filter the list.",
        "/docs/partner/dashboard/",
    ),
    (
        "guide",
        30,
        "Partner users and permissions",
        "Give colleagues the operations and the customer accounts they need, and nothing more.",
        "/docs/partner/users/",
    ),
    (
        "guide",
        40,
        "Reports and notifications",
        "One report for all customers or one per customer, and the daily trial accounts report.",
        "/docs/partner/notifications/",
    ),
    (
        "video",
        10,
        "Activating backups for a customer",
        "Open a customer account, connect a service and run the first backup.",
        "/docs/videos/activate-backups/",
    ),
    (
        "video",
        20,
        "Restoring a file, a mailbox or a site",
        "Find what was lost, pick the point in time and restore it where it belongs.",
        "/docs/videos/restore/",
    ),
)


def seed(apps, schema_editor):
    Resource = apps.get_model("hub", "Resource")
    for kind, order, title, description, link in DEFAULTS:
        Resource.objects.get_or_create(
            title=title, defaults={"kind": kind, "order": order, "description": description, "link": link}
        )


def unseed(apps, schema_editor):
    Resource = apps.get_model("hub", "Resource")
    Resource.objects.filter(title__in=[row[2] for row in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("hub", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
