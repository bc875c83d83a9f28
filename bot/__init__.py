"""releasebot: ITIL 4 release management in Slack."""
