"""What a user may do, the one rule both front doors apply: an admin may do everything and see
every organization; anyone else needs the permission, on its own organization. Finance staff
(an admin, or a `finance` user holding tokens.view and belonging to no organization) read every
organization's finance figures and invoices."""

from db.directory import VIEW, UserRecord

FINANCE_USER_TYPE = "finance"


def holds(user: UserRecord, permission: str) -> bool:
    return user.is_admin or permission in user.permissions


def sees_organization(user: UserRecord, organization_id: int) -> bool:
    return user.is_admin or user.organization_id == organization_id


def is_finance_staff(user: UserRecord) -> bool:
    if user.is_admin:
        return True
    return (
        user.user_type == FINANCE_USER_TYPE
        and VIEW in user.permissions
        and user.organization_id is None
    )
