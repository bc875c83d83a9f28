"""Slack markup: Block Kit, mrkdwn, modals. The one seam where releases become Slack messages."""
