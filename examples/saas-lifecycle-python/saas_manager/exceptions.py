"""Stand-ins for ``odoo.exceptions``: the errors an action shows its user."""


class UserError(Exception):
    """The action cannot run as asked (wrong state, invalid input, no capacity)."""


class AccessError(Exception):
    """The user may not run this action."""
