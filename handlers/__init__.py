"""The surfaces: Slack (`handlers.slack`), and the composition root and command line that assemble them."""
