"""Named example populations (docs/scaling.md shows the plan of each)."""

from dataclasses import replace

from capacity.model import Population

DEFAULT = Population()

EXAMPLES: dict[str, Population] = {
    "default": DEFAULT,
    # Many small organisations: clinics that buy often and subscribe, spend little each.
    "clinic-network": replace(
        DEFAULT, name="clinic-network", organizations=200_000, spends_per_org_per_day=100.0,
        purchases_per_org_per_month=2.0, subscribed_share=0.6, topups_per_org_per_month=1.0,
        reads_per_org_per_day=50.0, zipf_exponent=0.8,
    ),
    # Few very large organisations: national insurers, one of them far ahead of the rest.
    "national-insurers": replace(
        DEFAULT, name="national-insurers", organizations=500, spends_per_org_per_day=500_000.0,
        purchases_per_org_per_month=4.0, subscribed_share=0.8, topups_per_org_per_month=20.0,
        reads_per_org_per_day=20_000.0, zipf_exponent=1.1, peak_to_average=4.0,
    ),
    # The default platform grown tenfold, the largest organisations sending batches.
    "growth-x10": replace(
        DEFAULT, name="growth-x10", organizations=200_000, batched_share=0.3,
    ),
}  # fmt: skip
