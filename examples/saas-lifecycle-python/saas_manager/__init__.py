"""The SaaS instance manager of the provisioning document, shaped like its Odoo module
(``saas_manager``), sending its four lifecycle emails through Postier."""

from . import models  # noqa: F401  (Odoo imports a module's models package the same way)
