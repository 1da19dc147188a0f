"""Answers a caller meets from a broken Postier or what stands in front of it (an outside review):
each ends in a PostierError within the timeout, never in a wrong value."""

from __future__ import annotations

import email.utils
import pickle
import socket
import threading
import unittest
from datetime import datetime, timedelta, timezone

from postier import Postier

from .support import ScriptedServer, answer, read_request

TIMEOUT = 2.0


def cut_short(declared: int, sent: bytes):  # type: ignore[no-untyped-def]
    """Declares ``declared`` bytes of body, sends ``sent``, then closes cleanly (FIN, no reset)."""

    def script(conn: socket.socket, stop: threading.Event, server: ScriptedServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.requests.append(req)
        head = f"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        conn.sendall(head.encode() + sent)
        conn.shutdown(socket.SHUT_WR)
        stop.wait(1)

    return script


class CutShortAnswer(unittest.TestCase):
    def test_a_body_shorter_than_its_content_length_is_a_retryable_network_error(self) -> None:
        # The part received parses ({"items":[]}) or does not ({"items":[): either way the answer is cut.
        for sent in (b'{"items":[]}', b'{"items":['):
            with self.subTest(sent=sent), ScriptedServer(cut_short(100, sent)) as server:
                r = Postier(server.url, "pst_any", timeout=TIMEOUT, raise_errors=False).send("a@b.bj", "tpl", idempotency_key="cut-1")
                self.assertFalse(r.ok, r)
                assert r.error is not None
                self.assertEqual((r.error.status, r.error.code, r.error.retryable), (0, "network_error", True))
                self.assertEqual(len(server.requests), 1)

    def test_a_whole_body_still_reads(self) -> None:
        body = b'{"items":[]}'
        with ScriptedServer(cut_short(len(body), body)) as server:
            self.assertEqual(Postier(server.url, "pst_any", timeout=TIMEOUT).send("a@b.bj", "tpl"), {"items": []})


class NotAnObject(unittest.TestCase):
    def test_a_2xx_answer_that_is_not_a_json_object_is_invalid_response(self) -> None:
        for body in (b"null", b"[]", b'"sent"', b"42", b""):
            with self.subTest(body=body), ScriptedServer(answer(201, body, {"Content-Type": "application/json"})) as server:
                r = Postier(server.url, "pst_any", timeout=TIMEOUT, raise_errors=False).send("a@b.bj", "tpl")
                self.assertFalse(r.ok, r)
                assert r.error is not None
                self.assertEqual((r.error.status, r.error.code, r.error.retryable), (201, "invalid_response", False))


class BaseUrlNoRequestCanUse(unittest.TestCase):
    def test_is_refused_when_the_client_is_made_not_retried_as_a_network_error(self) -> None:
        for url in ("http://user:pw@127.0.0.1:1", "https://token@mail.example.com", "http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://a b.example", "http://mail.example.com\n", "http://", "mail.example.com"):
            with self.subTest(url=url):
                with self.assertRaises(ValueError) as caught:
                    Postier(url, "pst_any", raise_errors=False)
                self.assertNotIn("pw", str(caught.exception))

    def test_accepts_ordinary_urls(self) -> None:
        for url in ("http://127.0.0.1:8000", "https://mail.example.com/", "https://mail.example.com:8443/postier", "http://[::1]:8000"):
            with self.subTest(url=url):
                Postier(url, "pst_any")


class RetryAfter(unittest.TestCase):
    def test_reaches_the_caller_as_retry_after_seconds_from_delta_seconds_or_an_http_date(self) -> None:
        in_two_minutes = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(minutes=2), usegmt=True)
        cases = [
            (429, {"Retry-After": "7", "Content-Type": "application/json"}, b'{"error":{"code":"rate_limited","message":"slow"}}'),
            (503, {"Retry-After": in_two_minutes, "Content-Type": "text/html"}, b"<h1>503</h1>"),
            (503, {"Retry-After": "soon"}, b'{"error":{"code":"unavailable","message":"later"}}'),
            (503, {}, b'{"error":{"code":"unavailable","message":"later"}}'),
        ]
        errors = []
        for status, headers, body in cases:
            with ScriptedServer(answer(status, body, headers)) as server:
                r = Postier(server.url, "pst_any", timeout=TIMEOUT, raise_errors=False).send("a@b.bj", "tpl", idempotency_key="ra-1")
                assert r.error is not None
                errors.append(r.error)
        self.assertEqual((errors[0].code, errors[0].retryable, errors[0].retry_after), ("rate_limited", True, 7.0))
        self.assertEqual((errors[1].code, errors[1].retryable), ("invalid_response", True))
        assert errors[1].retry_after is not None
        self.assertTrue(60 < errors[1].retry_after <= 120, errors[1].retry_after)
        self.assertIsNone(errors[2].retry_after)
        self.assertIsNone(errors[3].retry_after)
        self.assertIn("retry_after=7.0", repr(errors[0]))
        copy = pickle.loads(pickle.dumps(errors[0]))
        self.assertEqual((copy.status, copy.code, copy.retry_after), (429, "rate_limited", 7.0))


class Redirect(unittest.TestCase):
    def test_is_not_followed_and_says_so_with_its_location(self) -> None:
        with ScriptedServer(answer(200, b'{"items":[]}', {"Content-Type": "application/json"})) as elsewhere:
            for status in (301, 302, 307, 308):
                for body in (b"", b"<html>moved</html>"):
                    headers = {"Location": f"{elsewhere.url}/api/v1/email/send", "Content-Type": "text/html"}
                    with self.subTest(status=status, body=body), ScriptedServer(answer(status, body, headers)) as server:
                        r = Postier(server.url, "pst_any", timeout=TIMEOUT, raise_errors=False).send("a@b.bj", "tpl")
                        assert r.error is not None
                        self.assertEqual((r.error.status, r.error.code, r.error.retryable), (status, "redirected", False))
                        self.assertIn(elsewhere.url, r.error.message)
            self.assertEqual(elsewhere.requests, [])


if __name__ == "__main__":
    unittest.main()
