"""Reading the archive and the templates, and walking pages of messages with the cursor."""

from __future__ import annotations

import os
import unittest
from typing import List, Literal

from postier import Err, Postier, PostierError

from .support import ADMIN_TOKEN, SEND_TOKEN, URL, invoice_variables, report_sent, requires_postier, unique_address


@requires_postier
class PagingTest(unittest.TestCase):
    to: str
    sent: List[str]
    archive: Postier[Literal[True]]

    @classmethod
    def setUpClass(cls) -> None:
        cls.to = unique_address("paging")
        sender = Postier(URL, SEND_TOKEN)
        cls.sent = [sender.send(cls.to, "billing_invoice_monthly", variables=invoice_variables())["items"][0]["id"] for _ in range(5)]
        report_sent(cls.sent)
        cls.archive = Postier(URL, ADMIN_TOKEN)

    def test_pages_follow_next_cursor_until_it_is_none_without_gaps_or_repeats(self) -> None:
        pages = []
        cursor = None
        while True:
            page = self.archive.list_messages(to=self.to, limit=2, cursor=cursor)
            pages.append([m["id"] for m in page["items"]])
            self.assertEqual(page["total"], 5)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual([len(p) for p in pages], [2, 2, 1])
        # Newest first: the reverse of the order they were sent in.
        self.assertEqual([i for p in pages for i in p], list(reversed(self.sent)))

    def test_iter_messages_yields_every_match_across_pages(self) -> None:
        seen = list(self.archive.iter_messages(to=self.to, template_key="billing_invoice_monthly", page_size=2))
        self.assertEqual([m["id"] for m in seen], list(reversed(self.sent)))
        self.assertTrue(all(m["to"] == self.to for m in seen))

    def test_filters_narrow_the_page(self) -> None:
        self.assertEqual(self.archive.list_messages(to=self.to, template_key="instance_provisioned")["total"], 0)
        self.assertEqual(self.archive.list_messages(to=self.to, status="queued", category="billing")["total"], 5)


@requires_postier
class TemplatesTest(unittest.TestCase):
    def test_lists_and_reads_templates_with_a_send_key(self) -> None:
        postier = Postier(URL, SEND_TOKEN)
        listed = postier.list_templates(category="lifecycle")
        keys = sorted(t["key"] for t in listed["items"])
        self.assertEqual(keys, ["instance_provisioned", "instance_reactivated", "instance_suspended", "instance_terminated"])
        self.assertEqual(listed["total"], 4)
        self.assertGreaterEqual(postier.list_templates(include_inactive=True)["total"], postier.list_templates()["total"])
        template = postier.get_template("instance_provisioned")
        self.assertEqual(template["sensitive_variables"], ["password"])
        self.assertIn("password", template["required_variables"])
        self.assertEqual(template["class"], "transactional")


if __name__ == "__main__":
    unittest.main()


@requires_postier
class ChecksTest(unittest.TestCase):
    def test_checks_the_html_the_links_and_spam_of_a_message(self) -> None:
        sent = Postier(URL, SEND_TOKEN).send_raw(
            unique_address("checks"),
            "Checks from Python",
            html='<p>Hi <a href="http://techconnect.bj/offre">offer</a></p><svg width="1" height="1"></svg>',
        )
        message_id = sent["items"][0]["id"]
        report_sent([message_id])
        archive = Postier(URL, ADMIN_TOKEN)
        html = archive.html_check(message_id)
        self.assertIn("html-svg", [f["slug"] for f in html["features"]])
        self.assertIsNotNone(html["score"])
        links = archive.link_check(message_id)["links"]
        self.assertEqual([(link["url"], link["problems"]) for link in links], [("http://techconnect.bj/offre", ["not_https"])])
        # The Postier these tests run against has no spamd unless POSTIER_TEST_SPAMD says so.
        quiet = archive.with_options(raise_errors=False).spam_check(message_id)
        if os.environ.get("POSTIER_TEST_SPAMD"):
            self.assertTrue(quiet.ok)
        else:
            self.assertFalse(quiet.ok)
            assert isinstance(quiet, Err)
            self.assertEqual((quiet.error.status, quiet.error.code), (409, "spam_check_unavailable"))
        with self.assertRaises(PostierError) as bad:
            archive.link_check("not-a-uuid")
        self.assertEqual((bad.exception.status, bad.exception.code), (400, "invalid_request"))

