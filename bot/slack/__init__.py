"""Adapters to the Slack Web API (the dispatcher's gateway, the directory of users and groups)."""
