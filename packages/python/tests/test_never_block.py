"""Postier stopped, hanging or refusing: the client answers within its timeout, and in never-block
mode hands back the error instead of raising it."""

from __future__ import annotations

import ssl
import time
import unittest
from datetime import datetime
from typing import Any, Callable, Tuple

from postier import Err, Ok, Postier, PostierError

from .support import (
    SEND_TOKEN,
    URL,
    ScriptedServer,
    SelfSignedCertificate,
    answer,
    closed_port_url,
    drip_body,
    drip_headers,
    forward_to,
    headers_then_stall,
    http_worker_threads,
    invoice_variables,
    requires_postier,
    silent,
    wait_until,
)

TIMEOUT = 0.4
#: Far above TIMEOUT, far below what a client without a total deadline would take (for ever).
BOUND = 5.0


def send_quietly(url: str, token: str = "pst_any", timeout: float = TIMEOUT) -> Tuple[Any, float]:
    started = time.monotonic()
    r = Postier(url, token, timeout=timeout, raise_errors=False).send("a@b.bj", "billing_invoice_monthly", variables=invoice_variables())
    return r, time.monotonic() - started


class StoppedTest(unittest.TestCase):
    def test_a_closed_port_is_a_retryable_network_error(self) -> None:
        r, _ = send_quietly(closed_port_url())
        self.assertIsInstance(r, Err)
        self.assertEqual((r.error.status, r.error.code, r.error.retryable), (0, "network_error", True))
        self.assertIn("ECONNREFUSED", r.error.message)
        self.assertIn("POST /api/v1/email/send", r.error.message)

    def test_the_raising_mode_raises_the_same_error(self) -> None:
        with self.assertRaises(PostierError) as caught:
            Postier(closed_port_url(), "pst_any").get_template("instance_provisioned")
        self.assertEqual((caught.exception.status, caught.exception.code), (0, "network_error"))


class HangingTest(unittest.TestCase):
    def assertTimesOut(self, script: Callable[..., None], abandoned_exchange_ends_on_its_own: bool = True) -> None:
        with ScriptedServer(script) as server:
            r, elapsed = send_quietly(server.url)
            self.assertIsInstance(r, Err)
            self.assertEqual((r.error.status, r.error.code, r.error.retryable), (0, "timeout", True))
            self.assertIn(f"no answer within {TIMEOUT:g} s", r.error.message)
            self.assertGreaterEqual(elapsed, TIMEOUT)
            self.assertLess(elapsed, BOUND)
            if abandoned_exchange_ends_on_its_own:
                # With the server still there: the abandoned exchange gives up by itself, no thread stays behind.
                self.assertTrue(wait_until(lambda: not http_worker_threads(), BOUND), http_worker_threads())
        self.assertTrue(wait_until(lambda: not http_worker_threads(), BOUND), http_worker_threads())

    def test_a_server_that_accepts_and_never_answers_times_out(self) -> None:
        self.assertTimesOut(silent)

    def test_a_server_that_sends_headers_then_stalls_times_out(self) -> None:
        self.assertTimesOut(headers_then_stall)

    def test_a_body_that_trickles_in_for_ever_times_out_at_the_deadline(self) -> None:
        # Each byte comes well within the timeout: only a deadline on the whole exchange stops this.
        self.assertTimesOut(drip_body)

    def test_headers_that_trickle_in_time_out_at_the_deadline(self) -> None:
        # The caller is free at the deadline; the abandoned exchange, inside urllib's header
        # parsing, reads on until this server stops trickling (here: when the test closes it).
        self.assertTimesOut(drip_headers, abandoned_exchange_ends_on_its_own=False)

    def test_a_per_call_timeout_overrides_the_clients(self) -> None:
        with ScriptedServer(silent) as server:
            started = time.monotonic()
            r = Postier(server.url, "pst_any", timeout=60, raise_errors=False).send("a@b.bj", "k", timeout=TIMEOUT)
            self.assertEqual(r.error.code if isinstance(r, Err) else None, "timeout")
            self.assertLess(time.monotonic() - started, BOUND)


class RefusingTest(unittest.TestCase):
    @requires_postier
    def test_a_revoked_or_wrong_key_is_an_unauthorized_error_result(self) -> None:
        r, _ = send_quietly(URL, "pst_revoked_or_wrong_token", timeout=5)
        self.assertEqual((r.ok, r.error.status, r.error.code, r.error.retryable), (False, 401, "unauthorized", False))

    def test_a_503_with_the_apis_error_is_retryable(self) -> None:
        body = b'{"error":{"code":"unavailable","message":"Storage is unavailable; retry later"}}'
        with ScriptedServer(answer(503, body, {"Content-Type": "application/json", "Retry-After": "5"})) as server:
            r, _ = send_quietly(server.url)
        self.assertEqual((r.error.status, r.error.code, r.error.message, r.error.retryable), (503, "unavailable", "Storage is unavailable; retry later", True))

    def test_an_answer_that_is_not_json_is_an_invalid_response(self) -> None:
        with ScriptedServer(answer(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})) as server:
            r, _ = send_quietly(server.url)
        self.assertEqual((r.error.status, r.error.code, r.error.retryable), (502, "invalid_response", True))

    def test_an_error_without_a_body_gets_an_http_code(self) -> None:
        with ScriptedServer(answer(500, b"")) as server:
            r, _ = send_quietly(server.url)
        self.assertEqual((r.error.status, r.error.code), (500, "http_500"))

    def test_a_redirect_is_not_followed_so_the_token_stays_with_postier(self) -> None:
        with ScriptedServer(answer(200, b'{"items":[]}', {"Content-Type": "application/json"})) as elsewhere:
            with ScriptedServer(answer(307, b"", {"Location": f"{elsewhere.url}/api/v1/email/send"})) as server:
                r, _ = send_quietly(server.url, token="pst_secret_token")
                self.assertEqual(len(server.requests), 1)
                self.assertEqual(server.requests[0][1]["authorization"], "Bearer pst_secret_token")
            self.assertEqual(elsewhere.requests, [])
        self.assertEqual((r.error.status, r.error.code), (307, "redirected"))


class ModesTest(unittest.TestCase):
    def test_with_options_turns_one_call_never_block_and_back(self) -> None:
        url = closed_port_url()
        raising = Postier(url, "pst_any", timeout=TIMEOUT)
        r = raising.with_options(raise_errors=False).get_template("x")
        self.assertIsInstance(r, Err)
        with self.assertRaises(PostierError):
            raising.get_template("x")
        quiet = Postier(url, "pst_any", raise_errors=False)
        with self.assertRaises(PostierError):
            quiet.with_options(raise_errors=True).get_template("x")
        self.assertEqual(quiet.with_options(timeout=1.5).timeout, 1.5)
        self.assertFalse(quiet.with_options(timeout=1.5).raise_errors)

    def test_iter_messages_raises_even_on_a_never_block_client(self) -> None:
        quiet = Postier(closed_port_url(), "pst_any", raise_errors=False)
        with self.assertRaises(PostierError):
            next(quiet.iter_messages())

    def test_mistakes_in_the_calling_code_raise_in_either_mode(self) -> None:
        # Never-block covers what Postier and the network do; a call that cannot be encoded is a bug.
        quiet = Postier(closed_port_url(), "pst_any", raise_errors=False)
        with self.assertRaises(ValueError):
            quiet.send("a@b.bj", "k", send_at=datetime(2026, 3, 1, 8, 0))
        with self.assertRaises(TypeError):
            quiet.send("a@b.bj", "k", variables={"when": object()})
        with self.assertRaises(ValueError):
            quiet.send("a@b.bj", "k", variables={"x": float("nan")})
        for bad in ("", "ftp://x", "localhost:8000"):
            with self.assertRaises(ValueError):
                Postier(bad, "pst_any")
        with self.assertRaises(ValueError):
            Postier("http://x", "")
        with self.assertRaises(ValueError):
            Postier("http://x", "t", timeout=0)


@requires_postier
class TlsTest(unittest.TestCase):
    """Postier behind TLS with a certificate no public CA signed."""

    cert: SelfSignedCertificate
    front: ScriptedServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.cert = SelfSignedCertificate()
        port = int(URL.rsplit(":", 1)[1].split("/")[0])
        cls.front = ScriptedServer(forward_to(port), tls=cls.cert.server_context())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.front.close()
        cls.cert.close()

    def test_certificates_are_verified_by_default(self) -> None:
        r = Postier(self.front.url, SEND_TOKEN, timeout=5, raise_errors=False).get_template("instance_provisioned")
        self.assertEqual((r.ok, r.error.code if isinstance(r, Err) else None), (False, "network_error"))
        self.assertIn("CERTIFICATE_VERIFY_FAILED", r.error.message if isinstance(r, Err) else "")

    def test_an_ssl_context_trusting_the_certificate_reaches_postier(self) -> None:
        context = ssl.create_default_context(cafile=self.cert.cert)
        r = Postier(self.front.url, SEND_TOKEN, timeout=5, raise_errors=False, ssl_context=context).get_template("instance_provisioned")
        self.assertIsInstance(r, Ok)
        self.assertEqual(r.value["key"] if isinstance(r, Ok) else None, "instance_provisioned")


if __name__ == "__main__":
    unittest.main()
