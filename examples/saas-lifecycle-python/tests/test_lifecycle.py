"""The document's four Given/When/Then scenarios against a running Postier, then again with
Postier stopped, hanging and refusing: every transition completes, mail or no mail.

Needs POSTIER_URL, POSTIER_SEND_TOKEN and POSTIER_ADMIN_TOKEN (test/python-client.test.ts sets
them) and the client on the path: PYTHONPATH=../../packages/python.
"""

from __future__ import annotations

import json
import logging
import os
import time
import unittest
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from postier import Message, Postier

from saas_manager.exceptions import AccessError, UserError
from saas_manager.models import SaasEnv, SaasInstance, SaasServer, User
from saas_manager.postier_mail import DEFAULT_TIMEOUT, EmailFailure, LifecycleMailer

from .servers import AnswerLost, SilentServer, closed_port_url

URL = os.environ.get("POSTIER_URL", "")
SEND_TOKEN = os.environ.get("POSTIER_SEND_TOKEN", "")
ADMIN_TOKEN = os.environ.get("POSTIER_ADMIN_TOKEN", "")
requires_postier = unittest.skipUnless(URL and SEND_TOKEN and ADMIN_TOKEN, "set POSTIER_URL, POSTIER_SEND_TOKEN and POSTIER_ADMIN_TOKEN")

FIXED_NOW = datetime(2026, 11, 25, 14, 40, tzinfo=timezone.utc)
TEMPLATES = ["instance_provisioned", "instance_suspended", "instance_reactivated", "instance_terminated"]
ADMIN = User("ops", is_saas_admin=True)


def make_env(mailer: LifecycleMailer, user: User = ADMIN) -> SaasEnv:
    return SaasEnv(
        mailer=mailer,
        servers=[SaasServer("srv-1", capacity=10)],
        base_domain="cloud.rgz.bj",
        template_database="saas_template_v17",
        user=user,
        now=lambda: FIXED_NOW,
    )


def new_instance(env: SaasEnv, label: str, protocol: str = "https") -> SaasInstance:
    """A name and customer address no other run shares: the archive is filtered on them."""
    suffix = uuid.uuid4().hex[:8]
    return SaasInstance.create(
        env,
        name=f"{label}-{suffix}",
        partner_name="Aminata Houngbédji",
        partner_email=f"aminata-{suffix}@techconnect.bj",
        plan="Business",
        protocol=protocol,
    )


def report_sent(instance: SaasInstance) -> None:
    path = os.environ.get("POSTIER_TEST_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            for e in instance.email_ids:
                for i in e.message_ids:
                    f.write(json.dumps({"id": i}) + "\n")


class LogCapture(logging.Handler):
    """Every record of the mailer's logger, formatted, to prove what a log line never holds."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[Tuple[str, str]] = []
        self._logger = logging.getLogger("saas_manager")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))

    def __enter__(self) -> "LogCapture":
        self._logger.addHandler(self)
        self._logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)

    def warnings(self) -> List[str]:
        return [m for level, m in self.lines if level == "WARNING"]


@requires_postier
class ScenariosTest(unittest.TestCase):
    def setUp(self) -> None:
        self.env = make_env(LifecycleMailer.from_settings(URL, SEND_TOKEN))
        self.archive = Postier(URL, ADMIN_TOKEN)
        self.log = LogCapture().__enter__()
        self.addCleanup(self.log.__exit__)

    def mail_of(self, instance: SaasInstance, template: str) -> Message:
        sent = [e for e in instance.email_ids if e.template == template]
        self.assertEqual(len(sent), 1, f"{template} accepted by Postier once")
        report_sent(instance)
        message = self.archive.get_message(sent[0].message_ids[0])
        self.assertEqual((message["to"], message["template_key"]), (instance.partner_email, template))
        return message

    def provisioned(self, label: str, protocol: str = "https") -> SaasInstance:
        instance = new_instance(self.env, label, protocol)
        instance.action_provision_instance()
        return instance

    def test_scenario_1_provisioning_makes_the_instance_active_and_mails_the_access_details(self) -> None:
        # Given a SaaS template exists
        self.assertIn("password", Postier(URL, SEND_TOKEN).get_template("instance_provisioned")["required_variables"])
        # And a customer has an email; When I create and provision an instance
        instance = new_instance(self.env, "techconnect-erp")
        popup = instance.action_provision_instance()
        # Then the instance is active
        self.assertEqual(instance.state, "active")
        self.assertEqual(instance.email_failures, [])
        self.assertEqual(popup["params"]["type"], "success")
        # And a mail to the customer holds the access details
        message = self.mail_of(instance, "instance_provisioned")
        text, html = message["text_content"] or "", message["html_content"] or ""
        self.assertIn(f"https://{instance.name}.cloud.rgz.bj", text)
        self.assertIn(f"Identifiant : {instance.partner_email}", text)
        self.assertIn("Business", text)
        self.assertIn(f'href="https://{instance.name}.cloud.rgz.bj"', html)
        # The password went to the customer only: the archive masks it, the manager keeps a hash.
        archived = text.split("Mot de passe : ", 1)[1].split("\n", 1)[0].strip()
        self.assertTrue(archived)
        self.assertFalse(instance.check_admin_password(archived), f"the archive holds {archived!r}, not the password")
        self.assertTrue(instance.admin_password_hash and instance.admin_password_hash.startswith("pbkdf2_sha256$"))
        self.assertEqual(self.log.warnings(), [])

    def test_scenario_2_suspending_makes_the_instance_suspended_and_mails_the_suspension(self) -> None:
        # Given an active instance whose customer has an email
        instance = self.provisioned("suspend-me")
        # When I suspend it
        instance.action_suspend("Facture impayée")
        # Then it is suspended, and the customer is told when and why
        self.assertEqual(instance.state, "suspended")
        text = self.mail_of(instance, "instance_suspended")["text_content"] or ""
        self.assertIn("Facture impayée", text)
        self.assertIn("25 novembre 2026 à 14:40", text)

    def test_scenario_3_reactivating_makes_the_instance_active_and_mails_the_date_and_the_right_link(self) -> None:
        # Given a suspended instance
        instance = self.provisioned("reactivate-me")
        instance.action_suspend("Maintenance")
        # When I reactivate it
        instance.action_reactivate()
        # Then it is active, and the mail has the date, time and a link with its protocol
        self.assertEqual(instance.state, "active")
        message = self.mail_of(instance, "instance_reactivated")
        self.assertIn("25 novembre 2026 à 14:40", message["text_content"] or "")
        self.assertIn(f'href="https://{instance.name}.cloud.rgz.bj"', message["html_content"] or "")

        plain = self.provisioned("intranet-rh", protocol="http")
        plain.action_suspend("Maintenance")
        plain.action_reactivate()
        html = self.mail_of(plain, "instance_reactivated")["html_content"] or ""
        self.assertIn(f'href="http://{plain.name}.cloud.rgz.bj"', html)
        self.assertNotIn(f"https://{plain.name}", html)

    def test_scenario_4_only_an_admin_terminates_the_database_is_deleted_and_the_mail_names_it(self) -> None:
        instance = self.provisioned("terminate-me")
        # A support user is refused, and nothing changes
        instance.env = make_env(self.env.mailer, User("support", is_saas_admin=False))
        with self.assertRaises(AccessError):
            instance.action_terminate()
        self.assertEqual((instance.state, instance.database_deleted_at), ("active", None))
        self.assertFalse(any(e.template == "instance_terminated" for e in instance.email_ids))
        # Given I am a SaaS admin; When I terminate the instance
        instance.env = self.env
        instance.action_terminate()
        # Then it is terminated, its database deleted, and the mail names the database
        self.assertEqual(instance.state, "terminated")
        self.assertEqual(instance.database_deleted_at, FIXED_NOW)
        text = self.mail_of(instance, "instance_terminated")["text_content"] or ""
        self.assertIn(f"Base de données supprimée : {instance.database_name}", text)
        self.assertEqual(self.log.warnings(), [])

    def test_invalid_transitions_are_refused_before_any_mail(self) -> None:
        instance = new_instance(self.env, "draft-only")
        with self.assertRaises(UserError):
            instance.action_suspend("x")
        instance.partner_email = "not-an-address"
        with self.assertRaises(UserError):
            instance.action_provision_instance()
        self.assertEqual((instance.state, instance.email_ids, instance.email_failures), ("draft", [], []))


class PostierUnavailableTest(unittest.TestCase):
    """The document's promise: mail errors never block provisioning or any other transition."""

    def run_lifecycle(self, mailer: LifecycleMailer) -> Tuple[SaasInstance, List[Dict[str, Any]], LogCapture, float]:
        env = make_env(mailer)
        instance = new_instance(env, "resilient-erp")
        with LogCapture() as log:
            started = time.monotonic()
            popups = [
                instance.action_provision_instance(),
                instance.action_suspend("Facture impayée"),
                instance.action_reactivate(),
                instance.action_terminate(),
            ]
            elapsed = time.monotonic() - started
        self.assertEqual(instance.state, "terminated")
        self.assertIsNotNone(instance.database_deleted_at)
        self.assertEqual(instance.email_ids, [])
        self.assertEqual([f.template for f in instance.email_failures], TEMPLATES)
        self.assertEqual([p["params"]["type"] for p in popups], ["warning"] * 4)
        self.assertEqual(len(log.warnings()), 4)
        self.assertTrue(all(t in w for t, w in zip(TEMPLATES, log.warnings())))
        return instance, popups, log, elapsed

    def assertPasswordOnlyInTheProvisioningPopup(self, instance: SaasInstance, popups: List[Dict[str, Any]], log: LogCapture) -> None:
        shown = popups[0]["params"]["message"]
        password = shown.rsplit(" / ", 1)[1].split(" ")[0]
        self.assertTrue(instance.check_admin_password(password), "the popup shows the real admin password")
        self.assertFalse(any(password in m for _, m in log.lines), "the password never reaches the log")
        self.assertFalse(any(password in p["params"]["message"] for p in popups[1:]))
        # Not kept for a retry either: the provisioning failure has no variables.
        self.assertIsNone(instance.email_failures[0].variables)

    def test_every_transition_completes_when_postier_is_stopped(self) -> None:
        instance, popups, log, _ = self.run_lifecycle(LifecycleMailer.from_settings(closed_port_url(), "pst_any"))
        self.assertEqual({(f.code, f.retryable) for f in instance.email_failures}, {("network_error", True)})
        self.assertPasswordOnlyInTheProvisioningPopup(instance, popups, log)

    def test_every_transition_completes_within_the_timeout_when_postier_hangs(self) -> None:
        with SilentServer() as silent:
            instance, popups, log, elapsed = self.run_lifecycle(LifecycleMailer.from_settings(silent.url, "pst_any"))
        self.assertEqual([f.code for f in instance.email_failures], ["timeout"] * 4)
        # Four sends, each cut at the two-second timeout: bounded, where a hang would be for ever.
        self.assertLess(elapsed, 4 * DEFAULT_TIMEOUT + 6)
        self.assertPasswordOnlyInTheProvisioningPopup(instance, popups, log)

    @requires_postier
    def test_every_transition_completes_when_postier_refuses_the_key(self) -> None:
        instance, popups, log, _ = self.run_lifecycle(LifecycleMailer.from_settings(URL, "pst_revoked_or_wrong_token"))
        self.assertEqual({(f.code, f.retryable) for f in instance.email_failures}, {("unauthorized", False)})
        self.assertPasswordOnlyInTheProvisioningPopup(instance, popups, log)


@requires_postier
class RetryTest(unittest.TestCase):
    def test_a_mail_that_timed_out_after_reaching_postier_is_not_sent_twice_by_a_retry(self) -> None:
        archive = Postier(URL, ADMIN_TOKEN)
        env = make_env(LifecycleMailer.from_settings(URL, SEND_TOKEN))
        instance = new_instance(env, "retry-erp")
        instance.action_provision_instance()
        port = int(URL.rsplit(":", 1)[1].split("/")[0])
        with AnswerLost(port) as lossy, LogCapture() as log:
            # The request reaches Postier, the answer never comes back.
            env.mailer = LifecycleMailer.from_settings(lossy.url, SEND_TOKEN, timeout=0.5)
            instance.action_suspend("Facture impayée")
        self.assertEqual(len(log.warnings()), 1)
        failure: Optional[EmailFailure] = instance.email_failures[0] if instance.email_failures else None
        self.assertEqual((failure.template, failure.code) if failure else None, ("instance_suspended", "timeout"))
        first = self._wait_for_suspension_mails(archive, instance.partner_email, 1)

        env.mailer = LifecycleMailer.from_settings(URL, SEND_TOKEN)
        popup = instance.action_retry_emails()
        self.assertEqual(popup["params"]["type"], "success")
        self.assertEqual(instance.email_failures, [])
        # Same idempotency key, same body: Postier answers with the first message, sends nothing new.
        self.assertEqual(instance.email_ids[-1].message_ids, first)
        self.assertEqual(self._wait_for_suspension_mails(archive, instance.partner_email, 1), first)
        report_sent(instance)

    def _wait_for_suspension_mails(self, archive: Postier, to: str, n: int) -> List[str]:
        ids: List[str] = []
        for _ in range(100):
            ids = [m["id"] for m in archive.iter_messages(to=to, template_key="instance_suspended")]
            if len(ids) >= n:
                break
            time.sleep(0.05)
        self.assertEqual(len(ids), n)
        return ids


if __name__ == "__main__":
    unittest.main()
