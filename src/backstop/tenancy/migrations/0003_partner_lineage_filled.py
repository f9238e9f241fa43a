"""Fills Partner.lineage for the partners that existed before it (P-TIERS), and says who may take a
partner's access away."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def fill_lineage(apps: Any, schema_editor: Any) -> None:
    Partner = apps.get_model("tenancy", "Partner")
    parents = dict(Partner.objects.values_list("pk", "parent_id"))

    def chain(pk: int) -> list[int]:
        found: list[int] = []
        node: int | None = pk
        while node is not None and node not in found:  # a cycle (never valid) stops the walk
            found.append(node)
            node = parents.get(node)
        return list(reversed(found))

    for pk in parents:
        lineage = "/" + "/".join(str(p) for p in chain(pk)) + "/"
        Partner.objects.filter(pk=pk).update(lineage=lineage)


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0002_partner_hierarchy_and_defaults"),
    ]

    operations = [
        migrations.AlterField(
            model_name="account",
            name="partner_access",
            field=models.BooleanField(
                default=True,
                help_text="Off when the partner's access was removed (by support, or by the customer when allowed): then only the customer's own users open the account.",
            ),
        ),
        migrations.AlterField(
            model_name="partner",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                help_text="The distributor a reseller (or a sub-distributor) buys through.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="resellers",
                to="tenancy.partner",
            ),
        ),
        migrations.RunPython(fill_lineage, migrations.RunPython.noop),
    ]
