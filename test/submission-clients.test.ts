import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SubmissionServer } from '../src/accept/submission/index.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { waitForStatus } from './helpers/delivery.js';
import { pdfBytes } from './helpers/fixtures.js';
import { sendKey, ingested, startSubmissionFor } from './helpers/submission.js';
import { SmtpSink } from './support/smtp-sink.js';

const run = promisify(execFile);

/**
 * Clients nobody here wrote, configured as their users configure them, through the listener to a
 * real SMTP sink; what arrives is read with a MIME parser.
 */
describe.each(backends)('SMTP submission from real clients on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  let server: SubmissionServer;
  let worker: Worker;
  let token: string;

  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(backend, sink.env({ SUBMISSION_PORT: '0', WORKER_POLL_MS: '20' }));
    server = await startSubmissionFor(t);
    ({ token } = await sendKey(t, 'odoo'));
    worker = startWorker(t.services, smtpTarget(t.services, null));
  });
  afterEach(() => sink.reset());
  afterAll(async () => {
    await worker?.stop();
    await server?.close();
    await t?.close();
    await sink?.close();
  });

  const idsOf = async (messageId: string) => {
    await ingested(t);
    return (
      await t.services.db
        .selectFrom('email_messages')
        .select('id')
        .where('smtp_message_id', '=', messageId)
        .orderBy('recipient_email')
        .execute()
    ).map((r) => r.id);
  };

  it("Python's smtplib as Odoo uses it (STARTTLS, login, sendmail): every recipient gets the message, the attachment intact", async () => {
    const script = `
import smtplib, sys
from email.message import EmailMessage
from email.utils import make_msgid
msg = EmailMessage()
msg["From"] = '"RGZ Facturation" <billing@rgz.bj>'
msg["To"] = "reseller@techconnect.bj"
msg["Cc"] = "compta@techconnect.bj"
msg["Subject"] = "Facture de février — INV-2026-0001"
msg["Message-Id"] = "<odoo-inv-0001@erp.rgz.bj>"
msg["X-Postier-Category"] = "billing"
msg.set_content("Bonjour,\\n\\nVotre facture de février est jointe : 450 000 FCFA.\\n")
msg.add_alternative("<p>Votre facture de <b>février</b> est jointe.</p>", subtype="html")
msg.add_attachment(open(sys.argv[3], "rb").read(), maintype="application", subtype="pdf", filename="INV-2026-0001.pdf")
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo()
s.starttls()
s.ehlo()
s.login("odoo", sys.argv[2])
s.sendmail("billing@rgz.bj", ["reseller@techconnect.bj", "compta@techconnect.bj", "archive@rgz.bj"], msg.as_string())
s.quit()
`;
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const dir = mkdtempSync(`${(await import('node:os')).tmpdir()}/postier-smtplib-`);
    writeFileSync(`${dir}/invoice.pdf`, pdfBytes());
    writeFileSync(`${dir}/send.py`, script);
    await run('/usr/bin/python3', [`${dir}/send.py`, String(server.port), token, `${dir}/invoice.pdf`]);
    const ids = await idsOf('<odoo-inv-0001@erp.rgz.bj>');
    expect(ids).toHaveLength(3);
    await waitForStatus(t, ids, ['sent']);
    expect(sink.accepted.map((m) => m.envelope.to).sort()).toEqual([
      ['archive@rgz.bj'],
      ['compta@techconnect.bj'],
      ['reseller@techconnect.bj'],
    ]);
    for (const got of sink.accepted) {
      const mail = await simpleParser(got.raw);
      expect(mail.subject).toBe('Facture de février — INV-2026-0001');
      expect(mail.messageId).toBe('<odoo-inv-0001@erp.rgz.bj>');
      expect(mail.text).toContain('450 000 FCFA');
      expect(mail.html).toContain('<b>février</b>');
      expect(mail.attachments).toHaveLength(1);
      expect(Buffer.compare(mail.attachments[0]!.content, pdfBytes())).toBe(0);
      expect(mail.headers.has('x-postier-category')).toBe(false);
    }
    // The archive shows it as any message: subject, bodies, attachment.
    const detail = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${ids[0]}` })).json();
    expect(detail).toMatchObject({ subject: 'Facture de février — INV-2026-0001', category: 'billing' });
    expect(detail.text_content).toContain('450 000 FCFA');
    expect(detail.attachments).toMatchObject([{ filename: 'INV-2026-0001.pdf', content_type: 'application/pdf' }]);
  });

  it('swaks with STARTTLS and AUTH PLAIN', async () => {
    const { stdout } = await run('swaks', [
      '--server',
      `127.0.0.1:${server.port}`,
      '--tls',
      '--auth',
      'PLAIN',
      '--auth-user',
      'cron',
      '--auth-password',
      token,
      '--from',
      'cron@rgz.bj',
      '--to',
      'ops@rgz.bj',
      '--header',
      'Subject: nightly backup done',
      '--header',
      'Message-Id: <backup-2026-12-01@cron.rgz.bj>',
      '--header',
      'X-Postier-Tags: cron,backup',
      '--body',
      'Backup finished in 42 s.',
    ]);
    expect(stdout).toMatch(/<~ +250 2\.0\.0 Ok: queued as <backup-2026-12-01@cron\.rgz\.bj>/);
    const ids = await idsOf('<backup-2026-12-01@cron.rgz.bj>');
    await waitForStatus(t, ids, ['sent']);
    const mail = await simpleParser(sink.accepted[0]!.raw);
    expect(mail.subject).toBe('nightly backup done');
    expect(mail.text?.trim()).toBe('Backup finished in 42 s.');
    expect(mail.headers.has('x-postier-tags')).toBe(false);
  });

  it('Nodemailer with requireTLS and the listener certificate pinned: Bcc only in the envelope, its Message-ID kept', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.port,
      secure: false,
      requireTLS: true,
      auth: { user: 'grafana', pass: token },
      tls: { ca: server.certificate() },
    });
    const info = await transport.sendMail({
      from: 'Grafana <alerts@rgz.bj>',
      to: 'oncall@rgz.bj',
      bcc: 'audit@rgz.bj',
      subject: '[FIRING] disk 91%',
      text: 'Disk usage on db-1 is 91%.',
      html: '<p>Disk usage on <code>db-1</code> is 91%.</p>',
      attachments: [{ filename: 'graph.pdf', content: pdfBytes() }],
    });
    transport.close();
    expect(info.response).toMatch(/^250 2\.0\.0/);
    const ids = await idsOf(info.messageId);
    expect(ids).toHaveLength(2);
    await waitForStatus(t, ids, ['sent']);
    expect(sink.accepted.map((m) => m.envelope.to[0]).sort()).toEqual(['audit@rgz.bj', 'oncall@rgz.bj']);
    for (const got of sink.accepted) {
      const mail = await simpleParser(got.raw);
      expect(mail.messageId).toBe(info.messageId);
      expect(mail.bcc).toBeUndefined();
      expect(got.raw.toString('latin1')).not.toMatch(/audit@rgz\.bj/);
      expect(mail.html).toContain('<code>db-1</code>');
      expect(Buffer.compare(mail.attachments[0]!.content, pdfBytes())).toBe(0);
    }
  });
});
