"""The console: server-rendered pages for buyers, organisation admins, finance and platform
admins, inside the API's FastAPI app. It calls the same application services the API routes
call, and owns presentation, sign-in sessions and CSRF."""
