"""A wallet's automatic top-up policy: reading, setting and removing it, the terms and caps it
keeps, and the nudge that lets the wallet's AutoTopupWorkflow re-read it."""
