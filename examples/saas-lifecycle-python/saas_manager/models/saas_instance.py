"""``saas.instance``: the document's model and its four actions, as plain Python.

Each action follows the document's flow: validate, do the work, write the new state, then
``_send_*_email()``, then return the notification popup. The mail comes last and cannot undo or
hold up the transition: the mailer waits two seconds at most and never raises. The Odoo version
of this class (``models.Model``, fields, ``env``) is in the README; the calls are the same.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Literal, Optional

from ..dates import format_long
from ..exceptions import AccessError, UserError
from ..postier_mail import EmailFailure, EmailOutcome, EmailSent, LifecycleMailer

State = Literal["draft", "active", "suspended", "terminated"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")
_EMAIL = re.compile(r"^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$")
_ids = itertools.count(1)


@dataclass
class SaasServer:
    name: str
    capacity: int


@dataclass
class User:
    name: str
    #: In Odoo: ``self.env.user.has_group("saas_manager.group_saas_admin")``.
    is_saas_admin: bool = False


@dataclass
class SaasEnv:
    """What ``self.env`` gives an Odoo model here: settings, the current user, the clock."""

    mailer: LifecycleMailer
    servers: List[SaasServer]
    base_domain: str
    template_database: str
    user: User
    tz: str = "UTC"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    #: The ``saas.instance`` table.
    instances: List["SaasInstance"] = field(default_factory=list)


class SaasInstance:
    _name = "saas.instance"

    def __init__(self, env: SaasEnv, name: str, partner_name: str, partner_email: str, plan: str, protocol: str = "https", partner_lang: str = "fr"):
        self.env = env
        self.id = next(_ids)
        #: Record ids restart in every database (staging, a restored copy, another manager) that may
        #: share a Postier key; idempotency keys need a name no other record has anywhere.
        self.uuid = str(uuid.uuid4())
        self.name = name
        self.partner_name = partner_name
        #: The document: "Chaque client (partenaire) doit avoir une adresse email configurée."
        self.partner_email = partner_email
        self.partner_lang = partner_lang
        self.plan = plan
        self.protocol = protocol
        self.state: State = "draft"
        self.server: Optional[str] = None
        self.database_name: Optional[str] = None
        self.database_neutralized = False
        self.domain: Optional[str] = None
        self.admin_login: Optional[str] = None
        #: A salted hash only: the clear password goes to the customer once, by mail.
        self.admin_password_hash: Optional[str] = None
        self.database_deleted_at: Optional[datetime] = None
        self.state_changed_at: Optional[datetime] = None
        #: Mail is a side effect: what Postier accepted and what failed, never a blocked action.
        self.email_ids: List[EmailSent] = []
        self.email_failures: List[EmailFailure] = []

    @classmethod
    def create(cls, env: SaasEnv, **vals: Any) -> SaasInstance:
        record = cls(env, **vals)
        env.instances.append(record)
        return record

    def __str__(self) -> str:
        return f"{self._name},{self.id}"

    # --- actions (buttons) ---------------------------------------------------------------

    def action_provision_instance(self) -> Dict[str, Any]:
        # validates server & capacity
        if self.state != "draft":
            raise UserError(f"Instance {self.name} is {self.state}: only a draft instance can be provisioned")
        if not _NAME.match(self.name):
            raise UserError(f"Invalid instance name {self.name!r}: a-z, 0-9 and -")
        if not _EMAIL.match(self.partner_email or ""):
            raise UserError(f"The customer {self.partner_name} needs an email address")
        if any(i is not self and i.name == self.name and i.state not in ("draft", "terminated") for i in self.env.instances):
            raise UserError(f"An instance named {self.name} exists")
        server = next((s for s in self.env.servers if self._load(s.name) < s.capacity), None)
        if server is None:
            raise UserError("No server has room for a new instance")
        self.server = server.name

        self._clone_template_database()
        self._neutralize_database()
        self._customize_instance()
        password = self._create_client_admin()
        self._configure_subdomain()
        self._write_state("active")
        outcome = self._send_provisioning_email(password)
        if isinstance(outcome, EmailFailure):
            # The access details reached nobody: the operator who provisioned sees them once, here.
            return self._notify(outcome, f"Instance {self.name} is active. Hand the access details over: {self.admin_login} / {password}")
        return self._notify(outcome, f"Instance {self.name} is active; the access details were emailed to {self.partner_email}.")

    def action_suspend(self, reason: str) -> Dict[str, Any]:
        self._check_state("active")
        self._write_state("suspended")
        return self._notify(self._send_suspension_email(reason), f"Instance {self.name} is suspended.")

    def action_reactivate(self) -> Dict[str, Any]:
        self._check_state("suspended")
        self._write_state("active")
        return self._notify(self._send_reactivation_email(), f"Instance {self.name} is active again.")

    def action_terminate(self) -> Dict[str, Any]:
        if not self.env.user.is_saas_admin:
            raise AccessError(f"{self.env.user.name} is not a SaaS admin: only an admin can terminate an instance")
        if self.state in ("draft", "terminated"):
            raise UserError(f"Instance {self.name} is {self.state}: nothing to terminate")
        # Irreversible, so before the state changes: a failure here leaves the instance as it was.
        self._delete_database()
        self._write_state("terminated")
        return self._notify(self._send_termination_email(), f"Instance {self.name} is terminated; its database is deleted.")

    def action_retry_emails(self) -> Dict[str, Any]:
        """Sends failed mails again with their first idempotency key: a mail that timed out but
        reached Postier is not sent twice. The provisioning mail is not retried (its password is
        not kept): the operator saw the access details instead."""
        still: List[EmailFailure] = []
        for failure in self.email_failures:
            if failure.variables is None:
                still.append(failure)
                continue
            outcome = self._send(failure.template, failure.variables, failure.idempotency_key, failure.at, record_failure=False)
            if isinstance(outcome, EmailFailure):
                still.append(outcome)
        sent = len(self.email_failures) - len(still)
        self.email_failures = still
        return self._popup(f"{sent} email(s) sent, {len(still)} not sent.", "warning" if still else "success", sticky=bool(still))

    # --- the document's steps ------------------------------------------------------------

    def _clone_template_database(self) -> None:
        self.database_name = self.name.replace("-", "_")

    def _neutralize_database(self) -> None:
        self.database_neutralized = True  # outgoing mail servers, crons and payment providers off

    def _customize_instance(self) -> None:
        pass  # company name, logo, plan's modules: the instance's own database, out of scope here

    def _create_client_admin(self) -> str:
        password = secrets.token_urlsafe(12)
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000)
        self.admin_login = self.partner_email
        self.admin_password_hash = f"pbkdf2_sha256$100000${salt.hex()}${digest.hex()}"
        return password

    def check_admin_password(self, password: str) -> bool:
        if not self.admin_password_hash:
            return False
        _, rounds, salt, digest = self.admin_password_hash.split("$")
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(rounds))
        return hmac.compare_digest(candidate.hex(), digest)

    def _configure_subdomain(self) -> None:
        self.domain = f"{self.name}.{self.env.base_domain}"

    def _delete_database(self) -> None:
        self.database_deleted_at = self.env.now()

    # --- mails ---------------------------------------------------------------------------

    def _send_provisioning_email(self, password: str) -> EmailOutcome:
        variables = {
            "customer_name": self.partner_name,
            "instance_name": self.name,
            "protocol": self.protocol,
            "domain": self.domain,
            "login": self.admin_login,
            "password": password,
            "plan": self.plan,
        }
        return self._send("instance_provisioned", variables, keep_variables=False)

    def _send_suspension_email(self, reason: str) -> EmailOutcome:
        variables = {
            "customer_name": self.partner_name,
            "instance_name": self.name,
            "domain": self.domain,
            "suspended_at": self._format(self.state_changed_at),
            "reason": reason,
        }
        return self._send("instance_suspended", variables)

    def _send_reactivation_email(self) -> EmailOutcome:
        variables = {
            "customer_name": self.partner_name,
            "instance_name": self.name,
            "protocol": self.protocol,
            "domain": self.domain,
            "reactivated_at": self._format(self.state_changed_at),
        }
        return self._send("instance_reactivated", variables)

    def _send_termination_email(self) -> EmailOutcome:
        variables = {
            "customer_name": self.partner_name,
            "instance_name": self.name,
            "database_name": self.database_name,
            "terminated_at": self._format(self.state_changed_at),
        }
        return self._send("instance_terminated", variables)

    def _send(
        self,
        template: str,
        variables: Dict[str, Any],
        key: Optional[str] = None,
        at: Optional[datetime] = None,
        keep_variables: bool = True,
        record_failure: bool = True,
    ) -> EmailOutcome:
        assert self.state_changed_at is not None
        # One key per instance and transition: a retry of this mail cannot reach the customer twice.
        key = key or f"{self._name}:{self.uuid}:{template}:{self.state_changed_at.isoformat()}"
        outcome = self.env.mailer.send(
            str(self), self.partner_email, self.partner_lang, template, variables, key, at or self.state_changed_at, keep_variables=keep_variables
        )
        if isinstance(outcome, EmailSent):
            self.email_ids.append(outcome)
        elif record_failure:
            self.email_failures.append(outcome)
        return outcome

    # --- helpers -------------------------------------------------------------------------

    def _check_state(self, expected: State) -> None:
        if self.state != expected:
            raise UserError(f"Instance {self.name} is {self.state}, not {expected}")

    def _write_state(self, state: State) -> None:
        self.state = state
        self.state_changed_at = self.env.now()

    def _load(self, server: str) -> int:
        return sum(1 for i in self.env.instances if i.server == server and i.state not in ("draft", "terminated"))

    def _format(self, value: Optional[datetime]) -> str:
        assert value is not None
        return format_long(value, self.env.tz, self.partner_lang)

    def _notify(self, outcome: EmailOutcome, done: str) -> Dict[str, Any]:
        if isinstance(outcome, EmailFailure):
            return self._popup(f"{done} The email to {self.partner_email} was not sent ({outcome.code}).", "warning", sticky=True)
        return self._popup(done, "success")

    @staticmethod
    def _popup(message: str, kind: str, sticky: bool = False) -> Dict[str, Any]:
        """Odoo's notification popup: an ``ir.actions.client`` the web client displays."""
        return {"type": "ir.actions.client", "tag": "display_notification", "params": {"message": message, "type": kind, "sticky": sticky}}
