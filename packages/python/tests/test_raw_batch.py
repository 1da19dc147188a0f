"""Raw sends (no stored template) and batches against a running Postier."""

from __future__ import annotations

import unittest
import uuid

from postier import Postier, PostierError, attachment, raw_message, template_message

from .support import ADMIN_TOKEN, SEND_TOKEN, URL, invoice_variables, pdf_bytes, report_sent, requires_postier, unique_address


@requires_postier
class RawAndBatchTest(unittest.TestCase):
    def setUp(self) -> None:
        self.postier = Postier(URL, SEND_TOKEN, timeout=10)
        self.archive = Postier(URL, ADMIN_TOKEN, timeout=10)

    def test_sends_raw_html_with_tags_and_metadata_that_the_archive_holds(self) -> None:
        to = unique_address("raw")
        result = self.postier.send_raw(
            to,
            "Votre colis est parti",
            html="<p>Bonjour, votre colis est parti.</p>",
            tags=["shipping"],
            metadata={"order": 42},
            attachments=[attachment("bon.pdf", pdf_bytes())],
        )
        report_sent(i["id"] for i in result["items"])
        message = self.archive.get_message(result["items"][0]["id"])
        self.assertIsNone(message["template_key"])
        self.assertEqual(message["subject"], "Votre colis est parti")
        self.assertIn("votre colis est parti", (message["text_content"] or "").lower())
        self.assertEqual(message["tags"], ["shipping"])
        self.assertEqual(message["metadata"], {"order": 42})
        self.assertEqual(len(message["attachments"]), 1)

    def test_refuses_a_sender_the_installation_does_not_allow(self) -> None:
        with self.assertRaises(PostierError) as caught:
            self.postier.send_raw(unique_address("raw"), "x", text="y", sender="CEO <ceo@evil.example>")
        self.assertEqual((caught.exception.status, caught.exception.code), (403, "from_not_allowed"))
        self.assertEqual(caught.exception.details["from"], "ceo@evil.example")

    def test_batches_template_and_raw_messages_with_an_error_in_its_place(self) -> None:
        key = f"py-batch-{uuid.uuid4().hex}"
        a, b, c = unique_address("batch-a"), unique_address("batch-b"), unique_address("batch-c")
        messages = [
            template_message(a, "billing_invoice_monthly", variables=invoice_variables()),
            raw_message(b, "Raw in a batch", text="Hello", idempotency_key=key),
            raw_message(c, "Bad sender", text="Hello", sender="x@evil.example"),
        ]
        result = self.postier.send_batch(messages)
        items = result["items"]
        self.assertEqual([i["index"] for i in items], [0, 1, 2])
        self.assertEqual(items[0]["items"][0]["to"], a)
        self.assertEqual(items[1]["items"][0]["status"], "queued")
        self.assertEqual(items[2]["error"]["code"], "from_not_allowed")
        report_sent(x["id"] for i in items for x in i.get("items", []))

        # The same message under the same key: the first answer, nothing sent twice.
        again = self.postier.send_batch([messages[1]])
        self.assertEqual(again["items"][0]["items"], items[1]["items"])

    def test_never_block_mode_returns_a_batch_envelope_error(self) -> None:
        quiet = self.postier.with_options(raise_errors=False)
        r = quiet.send_batch([])
        self.assertFalse(r.ok)
        self.assertEqual((r.error.status, r.error.code), (400, "invalid_request"))

    def test_raw_message_needs_a_body(self) -> None:
        with self.assertRaises(ValueError):
            raw_message("a@example.com", "No body")
