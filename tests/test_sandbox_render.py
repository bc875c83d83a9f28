"""The sandbox's Block Kit and mrkdwn renderer: every element type the bot may send, drawn as
accessible HTML, and hostile text shown as text, never run as markup."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from bot.catalog import Catalog
from bot.config import BUNDLED_MODELS
from bot.rendering import blocks as bk
from handlers.sandbox.blockkit import Surface, render_blocks, render_message
from handlers.sandbox.directory import Directory
from handlers.sandbox.mrkdwn import Viewer, format_date, mrkdwn

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
ERIN = "U0123ERIN"


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.for_catalog(Catalog.load(BUNDLED_MODELS))


def viewer(directory: Directory, tz: str = "Europe/London") -> Viewer:
    return Viewer(directory, ERIN, tz, datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


def draw(directory: Directory, *blocks: dict[str, Any], errors: dict[str, str] | None = None) -> str:
    return render_blocks(list(blocks), Surface(viewer(directory), "modal", errors=errors or {}))


class Tags(HTMLParser):
    """Every start tag and attribute, to check what the HTML would make a browser do."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def assert_inert(html: str) -> None:
    """No element a browser would run or load from what a person typed."""
    for tag, attrs in tags(html):
        assert tag not in ("script", "iframe", "object", "embed", "style"), html
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src"):
            value = attrs.get(name) or ""
            assert not value or re.match(r"https?://|mailto:", value), (tag, attrs)


# -- blocks -----------------------------------------------------------------------------------

def test_header_is_a_heading_and_escapes_its_text(directory: Directory) -> None:
    html = draw(directory, bk.header(f"REL-1 · {HOSTILE}"))
    assert html.startswith("<h3 class=\"bk-header\"")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_inert(html)


def test_section_with_fields_and_a_button_accessory(directory: Directory) -> None:
    block = bk.section("*State*", fields=["*Owner*\n<@U0123ERIN>", "*Window*\ntoday"],
                       accessory=bk.button("Open", "open_it", "7"))
    html = draw(directory, block)
    assert "<strong>State</strong>" in html
    assert html.count("class=\"bk-field\"") == 2
    assert "@Erin Walsh" in html and "<br>" in html
    assert re.search(r"<button type=\"button\" class=\"bk-button\"[^>]*data-action-id=\"open_it\"[^>]*"
                     r"data-value=\"7\"[^>]*>Open</button>", html)


def test_section_with_an_image_accessory(directory: Directory) -> None:
    block = {"type": "section", "text": {"type": "plain_text", "text": "Look"},
             "accessory": {"type": "image", "image_url": "https://example.test/a.png", "alt_text": HOSTILE}}
    html = draw(directory, block)
    img = next(attrs for tag, attrs in tags(html) if tag == "img")
    assert img["src"] == "https://example.test/a.png" and img["alt"] == HOSTILE
    assert_inert(html)


def test_context_divider_and_image_block(directory: Directory) -> None:
    html = draw(directory, bk.context("one", "_two_"), bk.divider(),
                {"type": "image", "image_url": "https://example.test/chart.png", "alt_text": "chart",
                 "title": {"type": "plain_text", "text": "Lead time"}})
    assert "<span>one</span><span><em>two</em></span>" in html
    assert "<hr class=\"bk-divider\">" in html
    assert "<figcaption>Lead time</figcaption>" in html


def test_an_image_from_another_scheme_is_not_loaded(directory: Directory) -> None:
    html = draw(directory, {"type": "image", "image_url": "javascript:alert(1)", "alt_text": "x"})
    assert "<img" not in html and "javascript" not in html
    assert_inert(html)


def test_buttons_keep_their_styles_and_labels(directory: Directory) -> None:
    html = draw(directory, bk.actions(bk.button("Approve", "approve", "1", style="primary"),
                                      bk.button("Reject", "reject", "1", style="danger"),
                                      bk.button("Later", "later")))
    assert "role=\"group\"" in html
    assert re.search(r"class=\"bk-button bk-primary\"[^>]*>Approve</button>", html)
    assert re.search(r"class=\"bk-button bk-danger\"[^>]*>Reject</button>", html)
    assert re.search(r"class=\"bk-button\" [^>]*>Later</button>", html)


def test_a_confirm_dialog_is_asked_before_the_click(directory: Directory) -> None:
    button = bk.button("Roll back", "rollback", "3", style="danger")
    button["confirm"] = {"title": {"type": "plain_text", "text": "Roll back REL-3?"},
                         "text": {"type": "mrkdwn", "text": f"*Sure?* {HOSTILE}"},
                         "confirm": {"type": "plain_text", "text": "Roll back"},
                         "deny": {"type": "plain_text", "text": "Keep it"}, "style": "danger"}
    html = draw(directory, bk.actions(button))
    assert "data-confirm=\"true\"" in html
    assert "role=\"alertdialog\"" in html and " hidden>" in html
    assert "<h4" in html and "Roll back REL-3?</h4>" in html
    assert "data-confirm-answer=\"no\">Keep it</button>" in html
    assert re.search(r"class=\"bk-button bk-danger\" data-confirm-answer=\"yes\">Roll back</button>", html)
    assert_inert(html)


def test_a_url_button_opens_only_http_links(directory: Directory) -> None:
    good = draw(directory, bk.actions({"type": "button", "text": bk.plain("Docs"), "action_id": "docs",
                                       "url": "https://example.test/docs"}))
    bad = draw(directory, bk.actions({"type": "button", "text": bk.plain("Docs"), "action_id": "docs",
                                      "url": "javascript:alert(1)"}))
    assert "data-url=\"https://example.test/docs\"" in good
    assert "data-url" not in bad and "javascript" not in bad


def test_static_select_with_groups_and_initial_option(directory: Directory) -> None:
    element = {"type": "static_select", "action_id": "model", "placeholder": bk.plain("Pick one"),
               "option_groups": [{"label": bk.plain("Common"), "options": [
                   {"text": bk.plain("Standard"), "value": "standard"},
                   {"text": bk.plain(HOSTILE), "value": "x\"><script>"}]}],
               "initial_option": {"text": bk.plain("Standard"), "value": "standard"}}
    html = draw(directory, {"type": "input", "block_id": "model", "label": bk.plain("Release model"),
                            "element": element})
    assert "<label class=\"bk-label\" for=\"s-0\">Release model</label>" in html
    assert "<select class=\"bk-select\" id=\"s-0\"" in html
    assert "<optgroup label=\"Common\">" in html
    assert "<option value=\"standard\" selected>Standard</option>" in html
    assert "<option value=\"\">Pick one</option>" in html
    assert_inert(html)


def test_multi_select_users_select_and_conversations_select(directory: Directory) -> None:
    html = draw(directory,
                bk.actions({"type": "multi_static_select", "action_id": "m", "options": [
                    {"text": bk.plain("A"), "value": "a"}, {"text": bk.plain("B"), "value": "b"}],
                    "initial_options": [{"text": bk.plain("B"), "value": "b"}]},
                    {"type": "users_select", "action_id": "who", "initial_user": "U0123ALICE"},
                    {"type": "conversations_select", "action_id": "where"}))
    assert " multiple>" in html and "<option value=\"b\" selected>B</option>" in html
    assert "<option value=\"U0123ALICE\" selected>Alice Moreau (CAB approver)</option>" in html
    assert "<option value=\"C0123ANNOUNCE\">#announcements</option>" in html
    assert html.count("data-dispatch=\"true\"") == 3  # choices in an actions block are sent at once


def test_overflow_menu_is_a_labelled_select(directory: Directory) -> None:
    html = draw(directory, bk.section("More", accessory={"type": "overflow", "action_id": "more", "options": [
        {"text": bk.plain("Edit"), "value": "edit"}]}))
    assert "class=\"bk-overflow\"" in html and "aria-label=\"More actions\"" in html


def test_radio_buttons_and_checkboxes_are_groups_of_labelled_inputs(directory: Directory) -> None:
    radios = {"type": "input", "block_id": "v0:o", "label": bk.plain("Outcome"), "optional": True,
              "element": {"type": "radio_buttons", "action_id": "v0:o", "options": [
                  {"text": bk.plain("Pass"), "value": "pass"}, {"text": bk.plain("Fail"), "value": "fail"}],
                  "initial_option": {"text": bk.plain("Fail"), "value": "fail"}}}
    boxes = {"type": "input", "block_id": "c", "label": bk.plain("Checks"),
             "element": {"type": "checkboxes", "action_id": "c", "options": [
                 {"text": bk.mrkdwn("*Smoke*"), "value": "smoke",
                  "description": bk.plain("Runs in 2 minutes")}]}}
    html = draw(directory, radios, boxes)
    assert "role=\"radiogroup\"" in html and "role=\"group\"" in html
    assert "<span class=\"bk-label\" id=\"s-0-label\">Outcome <span class=\"bk-optional\">(optional)</span>" in html
    assert "aria-labelledby=\"s-0-label\"" in html
    assert re.search(r"<label class=\"bk-choice\"><input type=\"radio\" name=\"s-0\" value=\"fail\" checked>", html)
    assert "<input type=\"checkbox\"" in html and "<strong>Smoke</strong>" in html
    assert "Runs in 2 minutes" in html


def test_date_time_and_datetime_pickers_show_the_viewers_clock(directory: Directory) -> None:
    stamp = int(datetime(2026, 7, 1, 13, 30, tzinfo=UTC).timestamp())
    html = draw(directory,
                {"type": "input", "block_id": "d", "label": bk.plain("Day"),
                 "element": {"type": "datepicker", "action_id": "d", "initial_date": "2026-07-01"}},
                {"type": "input", "block_id": "t", "label": bk.plain("Time"),
                 "element": {"type": "timepicker", "action_id": "t", "initial_time": "09:15"}},
                {"type": "input", "block_id": "dt", "label": bk.plain("Start"),
                 "element": {"type": "datetimepicker", "action_id": "dt", "initial_date_time": stamp}})
    assert "type=\"date\"" in html and "value=\"2026-07-01\"" in html
    assert "type=\"time\"" in html and "value=\"09:15\"" in html
    assert "type=\"datetime-local\"" in html and "value=\"2026-07-01T14:30\"" in html  # BST
    assert "Europe/London" in html


def test_plain_text_url_and_multiline_inputs(directory: Directory) -> None:
    html = draw(directory,
                {"type": "input", "block_id": "title", "label": bk.plain("Title"),
                 "element": {"type": "plain_text_input", "action_id": "title", "max_length": 150,
                             "initial_value": HOSTILE, "placeholder": bk.plain("e.g. Payments")}},
                {"type": "input", "block_id": "notes", "label": bk.plain("Notes"), "hint": bk.plain("Markdown"),
                 "element": {"type": "plain_text_input", "action_id": "notes", "multiline": True,
                             "initial_value": "</textarea><script>x</script>"}},
                {"type": "input", "block_id": "link", "label": bk.plain("Evidence"),
                 "element": {"type": "url_text_input", "action_id": "link"}})
    assert "type=\"text\"" in html and "maxlength=\"150\"" in html and "placeholder=\"e.g. Payments\"" in html
    assert "value=\"&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#x27;&amp;\"" in html
    assert "<textarea" in html and "&lt;/textarea&gt;&lt;script&gt;" in html
    assert "type=\"url\"" in html and "<div class=\"bk-hint\">Markdown</div>" in html
    assert_inert(html)


def test_field_errors_are_shown_on_their_input(directory: Directory) -> None:
    html = draw(directory, {"type": "input", "block_id": "end", "label": bk.plain("Planned end"),
                            "element": {"type": "datetimepicker", "action_id": "end"}},
                errors={"end": f"The end must come after the start {HOSTILE}"})
    assert "class=\"bk-input bk-invalid\"" in html
    assert "role=\"alert\" data-error-for=\"end\">The end must come after the start &lt;script&gt;" in html


def test_unknown_blocks_are_named_not_dropped(directory: Directory) -> None:
    html = draw(directory, {"type": f"video{HOSTILE}"})
    assert "unsupported block" in html and "&lt;script&gt;" in html


def test_a_message_without_blocks_shows_its_text(directory: Directory) -> None:
    html = render_message({"text": f"Hello <@U0123BOB> {HOSTILE}"}, Surface(viewer(directory)))
    assert "@Bob Chen" in html and "&lt;script&gt;" in html
    assert_inert(html)


def test_every_bot_surface_renders_inert(directory: Directory) -> None:
    """The planning modal of the bundled models, with a hostile title, draws without markup leaking."""
    from bot.rendering.views import plan_modal

    catalog = Catalog.load(BUNDLED_MODELS)
    view = plan_modal(catalog, "C0123RELEASES", datetime.now(UTC), "standard", HOSTILE)
    html = draw(directory, *view["blocks"])
    assert "&lt;script&gt;" in html
    assert_inert(html)


# -- mrkdwn -----------------------------------------------------------------------------------

def test_mrkdwn_bold_italics_strike_code_and_quotes(directory: Directory) -> None:
    html = mrkdwn("*bold* _it_ ~gone~ `code *not bold*` snake_case_word\n> quoted", viewer(directory))
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<del>gone</del>" in html
    assert "<code>code *not bold*</code>" in html
    assert "snake_case_word" in html
    assert "<blockquote class=\"mk-quote\">quoted</blockquote>" in html


def test_mrkdwn_preformatted_block(directory: Directory) -> None:
    html = mrkdwn("```a &lt;b&gt;\n*c*```", viewer(directory))
    assert html == "<pre class=\"mk-pre\">a &lt;b&gt;\n*c*</pre>"


def test_mrkdwn_links_only_http_and_mailto(directory: Directory) -> None:
    look = viewer(directory)
    assert mrkdwn("<https://ci.test/run/1|the run>", look) == \
        "<a href=\"https://ci.test/run/1\" target=\"_blank\" rel=\"noopener noreferrer\">the run</a>"
    assert "href=\"mailto:cab@example.test\"" in mrkdwn("<mailto:cab@example.test|CAB>", look)
    unsafe = mrkdwn("<javascript:alert(1)|click me>", look)
    assert "<a" not in unsafe and unsafe == "click me"
    assert "href" not in mrkdwn("<javascript:alert(1)>", look)


def test_mrkdwn_mentions_channels_groups_and_broadcasts(directory: Directory) -> None:
    html = mrkdwn("<@U0123ALICE> <@U0123ERIN> <@UNOBODY|someone> <#C0123ANNOUNCE> <!subteam^S0123CAB> <!here>",
                  viewer(directory))
    assert "@Alice Moreau" in html
    assert "class=\"mk-mention mk-me\" data-user=\"U0123ERIN\">@Erin Walsh" in html
    assert "@someone" in html
    assert "#announcements" in html and "@cab" in html and "mk-broadcast\">@here" in html


def test_mrkdwn_escaped_text_is_shown_as_typed(directory: Directory) -> None:
    """What the bot escaped (bk.escape) reads as the person typed it, and stays inert."""
    typed = "<!channel> <https://evil.test|bank> <script>alert(1)</script> & co"
    html = mrkdwn(bk.escape(typed), viewer(directory))
    assert "mk-broadcast" not in html and "<a" not in html
    assert "&lt;!channel&gt; &lt;https://evil.test|bank&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" == html


def test_mrkdwn_dates_in_the_viewers_time_zone(directory: Directory) -> None:
    moment = datetime(2026, 3, 11, 9, 5, tzinfo=UTC)
    token = bk.slack_date(moment)
    london = mrkdwn(token, viewer(directory))
    tokyo = mrkdwn(token, viewer(directory, "Asia/Tokyo"))
    assert ">Tomorrow 9:05 AM</time>" in london
    assert ">Tomorrow 6:05 PM</time>" in tokyo
    assert "datetime=\"2026-03-11T09:05:00+00:00\"" in london
    assert mrkdwn("<!date^notanumber^{date}|the fallback>", viewer(directory)) == "the fallback"


def test_date_tokens(directory: Directory) -> None:
    moment = datetime(2026, 2, 18, 6, 39, 42, tzinfo=UTC)
    look = viewer(directory, "UTC")
    assert format_date(moment, "{date_num} {date} {date_short} {time_secs}", look) == \
        "2026-02-18 February 18th, 2026 Feb 18, 2026 6:39:42 AM"
    assert format_date(moment, "{date_long}", look) == "Wednesday, February 18th, 2026"


def test_emoji_shortcodes(directory: Directory) -> None:
    assert mrkdwn(":white_check_mark: *Approved* :no_such_emoji:", viewer(directory)) == \
        "✅ <strong>Approved</strong> :no_such_emoji:"
