"""Seed-style sender for `npm run bench`: Python smtplib + Jinja2, one SMTP connection per message.

Usage: /usr/bin/python3 bench/seed_style.py SPEC.json
SPEC: {"port": int, "n": int, "subject": str, "html": str, "text": str, "vars": {...}} where
subject/html/text are Jinja2 templates. Renders, builds MIME, connects, sends and quits for each
message, as the original specification designs it. Prints messages/s on stdout.
"""
import json
import smtplib
import sys
import time
from email.message import EmailMessage

from jinja2 import Environment

spec = json.load(open(sys.argv[1], encoding="utf-8"))
env = Environment(autoescape=False)
subject_t = env.from_string(spec["subject"])
html_t = Environment(autoescape=True).from_string(spec["html"])
text_t = env.from_string(spec["text"])
n = spec["n"]
t0 = time.perf_counter()
for i in range(n):
    v = dict(spec["vars"], invoice_number=f"INV-2026-{i}")
    msg = EmailMessage()
    msg["From"] = "RGZ Notifications <noreply@rgz.bj>"
    msg["To"] = f"seed{i}@example.com"
    msg["Subject"] = subject_t.render(**v)
    msg.set_content(text_t.render(**v))
    msg.add_alternative(html_t.render(**v), subtype="html")
    with smtplib.SMTP("127.0.0.1", spec["port"]) as s:
        s.send_message(msg)
print(n / (time.perf_counter() - t0))
