"""Thin Slack adapters: parse, check who may act, ack, call bot's services, answer."""
