"""The data-center regions a customer account's backups can live in (X-REGIONS).

Codes are stored in the database and name the storage variable (BACKSTOP_STORAGE_<CODE>):
never rename one. A region's data stays in its own store.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    label: str


REGIONS: tuple[Region, ...] = (
    Region("us-east", "US East (N. Virginia)"),
    Region("ca-central", "Canada (Central)"),
    Region("eu-ireland", "EU (Ireland)"),
    Region("eu-frankfurt", "EU (Frankfurt)"),
    Region("eu-paris", "EU (Paris)"),
    Region("uk-london", "UK (London)"),
    Region("ap-sydney", "Australia (Sydney)"),
    Region("ap-tokyo", "Japan (Tokyo)"),
)

REGION_CHOICES = [(region.code, region.label) for region in REGIONS]
DEFAULT_REGION = "us-east"


def region_label(code: str) -> str:
    return dict(REGION_CHOICES).get(code, code)
