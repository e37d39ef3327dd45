"""What a user may do, the one rule both front doors apply: an admin may do everything and see
every organization; anyone else needs the permission, on its own organization. Finance figures
cover every organization, so finance staff belong to none."""

from db.directory import FINANCE, VIEW, UserRecord

FINANCE_USER_TYPE = "finance"


def holds(user: UserRecord, permission: str) -> bool:
    return user.is_admin or permission in user.permissions


def sees_organization(user: UserRecord, organization_id: int) -> bool:
    return user.is_admin or user.organization_id == organization_id


def sees_finance(user: UserRecord) -> bool:
    """Finance staff: an admin, or a user of no organization holding `tokens.finance` (or, as
    before that permission, of type `finance` holding `tokens.view`)."""
    if user.is_admin:
        return True
    if user.organization_id is not None:
        return False
    return FINANCE in user.permissions or (
        user.user_type == FINANCE_USER_TYPE and VIEW in user.permissions
    )
