"""The admin console (`/admin`): organizations, users with their permissions and passwords,
the scheduled jobs, reconciliation runs, payment disputes and the audit log. Admins only;
everyone else gets the 403 page. Every read and command calls the service the admin API routes
call."""

from fastapi import APIRouter

from web.pages.admin import audit, disputes, jobs, organizations, users

router = APIRouter()
for pages in (organizations.router, users.router, jobs.router, disputes.router, audit.router):
    router.include_router(pages)
