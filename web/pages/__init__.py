"""The console's pages, one module per page or group of pages."""
