"""API errors become PostierError with the TypeScript client's status, code, details and retryable."""

from __future__ import annotations

import copy
import pickle
import unittest

from postier import Err, Postier, PostierError

from .support import ADMIN_TOKEN, SEND_TOKEN, URL, invoice_variables, requires_postier


@requires_postier
class ApiErrorTest(unittest.TestCase):
    def setUp(self) -> None:
        self.postier = Postier(URL, SEND_TOKEN)

    def assertPostierError(self, caught: BaseException, status: int, code: str) -> PostierError:
        self.assertIsInstance(caught, PostierError)
        assert isinstance(caught, PostierError)
        self.assertEqual((caught.status, caught.code, caught.retryable), (status, code, False))
        self.assertTrue(caught.message)
        return caught

    def test_missing_variables_is_a_422_naming_them_in_details(self) -> None:
        with self.assertRaises(PostierError) as caught:
            self.postier.send("a@b.bj", "billing_invoice_monthly", variables={"month": "mars"})
        e = self.assertPostierError(caught.exception, 422, "missing_variables")
        self.assertIn("amount_fcfa", e.details["missing"])
        self.assertNotIn("month", e.details["missing"])

    def test_an_unknown_template_is_a_404(self) -> None:
        with self.assertRaises(PostierError) as caught:
            self.postier.send("a@b.bj", "no_such_template", variables={})
        self.assertPostierError(caught.exception, 404, "template_not_found")
        with self.assertRaises(PostierError) as caught:
            self.postier.get_template("no_such_template")
        self.assertPostierError(caught.exception, 404, "template_not_found")

    def test_a_bad_token_is_a_401(self) -> None:
        with self.assertRaises(PostierError) as caught:
            Postier(URL, "pst_wrong_or_revoked").send("a@b.bj", "billing_invoice_monthly", variables=invoice_variables())
        self.assertPostierError(caught.exception, 401, "unauthorized")

    def test_reading_the_archive_with_a_send_key_is_a_403(self) -> None:
        with self.assertRaises(PostierError) as caught:
            self.postier.list_messages()
        self.assertPostierError(caught.exception, 403, "forbidden")

    def test_an_unknown_message_is_a_404_and_a_bad_request_a_400_with_details(self) -> None:
        archive = Postier(URL, ADMIN_TOKEN)
        with self.assertRaises(PostierError) as caught:
            archive.get_message("01890000-0000-7000-8000-000000000000")
        self.assertPostierError(caught.exception, 404, "message_not_found")
        with self.assertRaises(PostierError) as caught:
            archive.list_messages(limit=501)
        e = self.assertPostierError(caught.exception, 400, "invalid_request")
        self.assertIsInstance(e.details, list)

    def test_never_block_mode_returns_the_same_error_instead_of_raising(self) -> None:
        quiet = Postier(URL, SEND_TOKEN, raise_errors=False)
        r = quiet.send("a@b.bj", "billing_invoice_monthly", variables={})
        self.assertIsInstance(r, Err)
        self.assertFalse(r.ok)
        self.assertIsNone(r.value)
        assert r.error is not None
        self.assertEqual((r.error.status, r.error.code), (422, "missing_variables"))
        with self.assertRaises(PostierError):
            r.unwrap()


class PostierErrorTest(unittest.TestCase):
    def test_retryable_for_network_failures_rate_limits_and_server_errors_only(self) -> None:
        cases = {0: True, 400: False, 401: False, 404: False, 409: False, 422: False, 429: True, 500: True, 503: True}
        self.assertEqual({s: PostierError(s, "x", "m").retryable for s in cases}, cases)

    def test_str_is_the_message_and_the_error_survives_pickle_and_copy(self) -> None:
        e = PostierError(422, "missing_variables", "Missing template variables: a", {"missing": ["a"]})
        self.assertEqual(str(e), "Missing template variables: a")
        for clone in (pickle.loads(pickle.dumps(e)), copy.copy(e)):
            self.assertEqual((clone.status, clone.code, clone.message, clone.details), (e.status, e.code, e.message, e.details))


if __name__ == "__main__":
    unittest.main()
