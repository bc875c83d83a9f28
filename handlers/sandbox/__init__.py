"""The sandbox (DESIGN.md §10): the real bot against a local Slack workspace in the browser.

`server.py` assembles it (`releasebot sandbox`); `workspace.py` and `webapi.py` are Slack's
side (also the test suite's fake Slack), `platform.py` the requests Slack sends the bot,
`blockkit.py` and `mrkdwn.py` draw what the bot sends, `page.py` serves the page.
"""
