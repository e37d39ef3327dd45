"""tokenbill: settings, command line and local development stack."""
