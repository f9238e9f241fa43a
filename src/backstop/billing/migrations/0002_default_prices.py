from django.db import migrations


def seed(apps, schema_editor):
    from backstop.billing.prices import default_prices

    Price = apps.get_model("billing", "Price")
    Price.objects.bulk_create(
        [
            Price(service=p.service, unit=p.unit, currency=p.currency, plan=p.plan, amount=p.amount)
            for p in default_prices()
        ]
    )
    TaxRate = apps.get_model("billing", "TaxRate")
    TaxRate.objects.create(country="IL", name="VAT", percent="18.00")


def unseed(apps, schema_editor):
    apps.get_model("billing", "Price").objects.all().delete()
    apps.get_model("billing", "TaxRate").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
