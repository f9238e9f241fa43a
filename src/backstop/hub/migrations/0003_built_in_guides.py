"""The seeded entries point at the built-in guides (`/hub/guides/<slug>/`) instead of /docs/
paths that nothing served, and the two seeded "videos" become guides (Backstop hosts no video;
operators add links to real ones in the admin).

Only an entry still holding its seeded link moves: one an operator pointed elsewhere is left as
it is. Its kind, order and title change only where they are still the seeded ones too, so the
guides read in order: add an account, the dashboard, activate backups, restore, users,
notifications.
"""

from django.db import migrations, models

import backstop.hub.models

# old link -> (new link, (seeded kind, order, title), (new kind, order, title))
MOVES = (
    (
        "/docs/partner/add-account/",
        "/hub/guides/add-account/",
        ("guide", 10, "Your first customer account"),
        ("guide", 10, "Your first customer account"),
    ),
    (
        "/docs/partner/dashboard/",
        "/hub/guides/dashboard/",
        ("guide", 20, "Reading the dashboard"),
        ("guide", 20, "Reading the dashboard"),
    ),
    (
        "/docs/videos/activate-backups/",
        "/hub/guides/activate-backups/",
        ("video", 10, "Activating backups for a customer"),
        ("guide", 30, "Activating backups for a customer"),
    ),
    (
        "/docs/videos/restore/",
        "/hub/guides/restore/",
        ("video", 20, "Restoring a file, a mailbox or a site"),
        ("guide", 40, "Restoring files and mailboxes"),
    ),
    (
        "/docs/partner/users/",
        "/hub/guides/users/",
        ("guide", 30, "Partner users and permissions"),
        ("guide", 50, "Partner users and permissions"),
    ),
    (
        "/docs/partner/notifications/",
        "/hub/guides/notifications/",
        ("guide", 40, "Reports and notifications"),
        ("guide", 60, "Reports and notifications"),
    ),
)


def _move(Resource, old_link, new_link, before, after):
    for entry in Resource.objects.filter(link=old_link):
        entry.link = new_link
        for field, was, becomes in zip(("kind", "order", "title"), before, after, strict=True):
            if getattr(entry, field) == was:
                setattr(entry, field, becomes)
        entry.save(update_fields=["link", "kind", "order", "title"])


def to_guides(apps, schema_editor):
    Resource = apps.get_model("hub", "Resource")
    for old_link, new_link, seeded, guide in MOVES:
        _move(Resource, old_link, new_link, seeded, guide)


def to_docs(apps, schema_editor):
    Resource = apps.get_model("hub", "Resource")
    for old_link, new_link, seeded, guide in MOVES:
        _move(Resource, new_link, old_link, guide, seeded)


class Migration(migrations.Migration):
    dependencies = [("hub", "0002_default_entries")]

    operations = [
        migrations.AlterField(
            model_name="resource",
            name="kind",
            field=models.CharField(
                choices=[("video", "Video"), ("guide", "Guide")],
                default="guide",
                help_text="The group it is listed in, and the filter partner users may pick.",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="resource",
            name="link",
            field=models.CharField(
                help_text="An http(s) address, which opens in a new tab (a video is a link to where it is "
                "hosted: Backstop hosts none), or a built-in guide of this site, which opens in the portal: "
                "/hub/guides/add-account/, dashboard, activate-backups, restore, users or notifications.",
                max_length=500,
                validators=[backstop.hub.models.validate_link],
            ),
        ),
        migrations.RunPython(to_guides, to_docs),
    ]
