"""What a user may do, the one rule both front doors apply: an admin may do everything and see
every organization; anyone else needs the permission, on its own organization."""

from db.directory import UserRecord


def holds(user: UserRecord, permission: str) -> bool:
    return user.is_admin or permission in user.permissions


def sees_organization(user: UserRecord, organization_id: int) -> bool:
    return user.is_admin or user.organization_id == organization_id
