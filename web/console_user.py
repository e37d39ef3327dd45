"""The signed-in console user: the user as the database describes it now, and its session."""

from dataclasses import dataclass

from db.directory import UserRecord
from services.access import holds, sees_organization


@dataclass(frozen=True)
class ConsoleUser:
    user: UserRecord
    session_token: str

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    def has(self, permission: str) -> bool:
        return holds(self.user, permission)

    def sees_organization(self, organization_id: int) -> bool:
        return sees_organization(self.user, organization_id)
