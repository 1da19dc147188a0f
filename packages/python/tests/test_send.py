"""Template sends against a running Postier: what the client sends is what the archive holds."""

from __future__ import annotations

import base64
import hashlib
import tempfile
import unittest
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from postier import Postier, PostierError, attachment, attachment_from_path, template_message

from .support import ADMIN_TOKEN, SEND_TOKEN, URL, invoice_variables, pdf_bytes, report_sent, requires_postier, unique_address


@requires_postier
class TemplateSendTest(unittest.TestCase):
    def setUp(self) -> None:
        self.postier = Postier(URL, SEND_TOKEN, timeout=10)
        self.archive = Postier(URL, ADMIN_TOKEN, timeout=10)

    def test_sends_a_template_with_a_pdf_attachment_that_the_archive_holds_byte_for_byte(self) -> None:
        to = unique_address("invoice")
        pdf = pdf_bytes()
        result = self.postier.send(to, "billing_invoice_monthly", variables=invoice_variables(), attachments=[attachment("invoice_2026-02.pdf", pdf)])
        report_sent(i["id"] for i in result["items"])
        self.assertEqual([(i["to"], i["status"]) for i in result["items"]], [(to, "queued")])

        message = self.archive.get_message(result["items"][0]["id"])
        self.assertEqual(message["subject"], "Facture RGZ — février 2026")
        self.assertEqual(message["template_key"], "billing_invoice_monthly")
        self.assertIn("450000", message["text_content"] or "")
        self.assertEqual(len(message["attachments"]), 1)
        a = message["attachments"][0]
        # The content type was guessed from the file name.
        self.assertEqual((a["filename"], a["content_type"], a["size_bytes"]), ("invoice_2026-02.pdf", "application/pdf", len(pdf)))
        self.assertEqual(a["sha256"], hashlib.sha256(pdf).hexdigest())

    def test_sends_an_empty_csv_read_from_disk_as_a_zero_byte_attachment(self) -> None:
        to = unique_address("export")
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "incidents.csv"
            path.write_bytes(b"")
            result = self.postier.send(to, "billing_invoice_monthly", variables=invoice_variables(), attachments=[attachment_from_path(path)])
        report_sent(i["id"] for i in result["items"])
        self.assertEqual([(i["to"], i["status"]) for i in result["items"]], [(to, "queued")])
        a = self.archive.get_message(result["items"][0]["id"])["attachments"]
        self.assertEqual([(x["filename"], x["content_type"], x["size_bytes"]) for x in a], [("incidents.csv", "text/csv", 0)])

    def test_sends_cc_bcc_reply_to_locale_version_and_a_scheduled_time(self) -> None:
        to = unique_address("scheduled")
        send_at = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
        result = self.postier.send(
            to,
            "instance_suspended",
            variables={"customer_name": "Aminata", "instance_name": "erp", "domain": "erp.cloud.rgz.bj", "suspended_at": "now", "reason": "Unpaid"},
            cc=["noc@rgz.bj", "ops@rgz.bj"],
            bcc="audit@rgz.bj",
            reply_to="support@rgz.bj",
            locale="en",
            template_version=1,
            send_at=send_at,
        )
        report_sent(i["id"] for i in result["items"])
        message = self.archive.get_message(result["items"][0]["id"])
        self.assertEqual(message["cc"], ["noc@rgz.bj", "ops@rgz.bj"])
        self.assertEqual(message["bcc"], ["audit@rgz.bj"])
        self.assertEqual(message["reply_to"], "support@rgz.bj")
        self.assertEqual((message["locale"], message["template_version"]), ("en", 1))
        self.assertIn("suspended", message["subject"].lower())
        # Held until send_at: scheduled, not queued.
        self.assertEqual(message["status"], "scheduled")
        self.assertIsNotNone(message["next_attempt_at"])
        self.assertEqual(datetime.fromisoformat((message["next_attempt_at"] or "").replace("Z", "+00:00")), send_at)

    def test_sends_one_message_per_recipient_of_a_list(self) -> None:
        a, b = unique_address("list-a"), unique_address("list-b")
        result = self.postier.send([a, b], "billing_invoice_monthly", variables=invoice_variables())
        report_sent(i["id"] for i in result["items"])
        self.assertEqual([i["to"] for i in result["items"]], [a, b])
        self.assertEqual(len({i["id"] for i in result["items"]}), 2)

    def test_sends_dates_and_decimals_from_model_fields_as_strings(self) -> None:
        variables = {**invoice_variables(), "amount_fcfa": Decimal("450000.50"), "invoice_date": date(2026, 2, 28)}
        result = self.postier.send(unique_address("typed"), "billing_invoice_monthly", variables=variables)
        report_sent(i["id"] for i in result["items"])
        text = self.archive.get_message(result["items"][0]["id"])["text_content"] or ""
        self.assertIn("450000.50 FCFA", text)
        self.assertIn("2026-02-28", text)

    def test_template_message_builds_the_body_send_posts(self) -> None:
        body = template_message(["a@b.bj"], "k", variables={"x": 1}, cc="c@d.bj", send_at="2026-03-01T08:00:00Z")
        self.assertEqual(body, {"to": ["a@b.bj"], "template_key": "k", "variables": {"x": 1}, "cc": "c@d.bj", "send_at": "2026-03-01T08:00:00Z"})


@requires_postier
class IdempotencyTest(unittest.TestCase):
    def setUp(self) -> None:
        self.postier = Postier(URL, SEND_TOKEN)
        self.archive = Postier(URL, ADMIN_TOKEN)

    def test_a_retry_with_the_same_key_replays_the_first_answer_and_sends_once(self) -> None:
        to = unique_address("idem")
        key = f"invoice-{to}"
        first = self.postier.send(to, "billing_invoice_monthly", variables=invoice_variables(), idempotency_key=key)
        again = self.postier.send(to, "billing_invoice_monthly", variables=invoice_variables(), idempotency_key=key)
        report_sent(i["id"] for i in first["items"])
        self.assertEqual(again, first)
        page = self.archive.list_messages(to=to)
        self.assertEqual((page["total"], [m["id"] for m in page["items"]]), (1, [first["items"][0]["id"]]))

    def test_the_same_key_with_another_body_is_a_409_conflict_that_is_not_retryable(self) -> None:
        to = unique_address("idem-conflict")
        key = f"conflict-{to}"
        first = self.postier.send(to, "billing_invoice_monthly", variables=invoice_variables(), idempotency_key=key)
        report_sent(i["id"] for i in first["items"])
        with self.assertRaises(PostierError) as caught:
            self.postier.send(to, "billing_invoice_monthly", variables={**invoice_variables(), "amount_fcfa": "1"}, idempotency_key=key)
        self.assertEqual((caught.exception.status, caught.exception.code, caught.exception.retryable), (409, "idempotency_conflict", False))

    def test_a_key_that_cannot_be_a_header_is_refused_before_sending(self) -> None:
        for bad in ("", "has space", "clé", "x" * 256):
            with self.assertRaises(ValueError):
                self.postier.send("a@b.bj", "billing_invoice_monthly", variables=invoice_variables(), idempotency_key=bad)


if __name__ == "__main__":
    unittest.main()


class AttachmentFromPathTest(unittest.TestCase):
    def test_reads_the_file_names_it_as_on_disk_and_guesses_its_type(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "rapport été.csv"
            path.write_bytes("site;débit\nA;10\n".encode())
            a = attachment_from_path(path)
            self.assertEqual((a["filename"], a["content_type"]), ("rapport été.csv", "text/csv"))
            self.assertEqual(base64.b64decode(a["data_base64"]), path.read_bytes())
            b = attachment_from_path(str(path), "text/plain", filename="report.txt")
            self.assertEqual((b["filename"], b["content_type"], b["data_base64"]), ("report.txt", "text/plain", a["data_base64"]))
            with self.assertRaises(FileNotFoundError):
                attachment_from_path(Path(d) / "missing.pdf")
