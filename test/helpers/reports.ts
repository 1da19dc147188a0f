import nodemailer from 'nodemailer';

/** A DSN (RFC 3464) as Postfix writes one, returning the original headers. */
export function dsn(opts: {
  to: string;
  recipient: string;
  messageId: string;
  status?: string;
  diagnostic?: string;
  action?: string;
  reportId?: string;
}): string {
  const status = opts.status ?? '5.1.1';
  const diagnostic =
    opts.diagnostic ??
    `smtp; 550 ${status} <${opts.recipient}>: Recipient address rejected: User unknown in local recipient table`;
  const id = opts.reportId ?? `${Math.random().toString(36).slice(2)}`;
  return [
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    `To: ${opts.to}`,
    'Subject: Undelivered Mail Returned to Sender',
    `Message-Id: <${id}@mx.example.net>`,
    'Date: Tue, 01 Dec 2026 10:00:00 +0000',
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
    '',
    '--B',
    'Content-Type: text/plain',
    '',
    'I could not deliver your message.',
    '',
    '--B',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    `Final-Recipient: rfc822; ${opts.recipient}`,
    `Original-Recipient: rfc822;${opts.recipient}`,
    `Action: ${opts.action ?? 'failed'}`,
    `Status: ${status}`,
    `Diagnostic-Code: ${diagnostic}`,
    '',
    '--B',
    'Content-Type: text/rfc822-headers',
    '',
    'From: RGZ Notifications <noreply@rgz.bj>',
    `To: ${opts.recipient}`,
    `Message-ID: ${opts.messageId}`,
    'Subject: Incident',
    '',
    '--B--',
    '',
  ].join('\r\n');
}

/** An out-of-office reply to our message. */
export function autoReply(opts: { to: string; from: string; messageId: string }): string {
  return [
    `From: ${opts.from}`,
    `To: ${opts.to}`,
    'Subject: Automatic reply: Incident',
    'Auto-Submitted: auto-replied',
    `In-Reply-To: ${opts.messageId}`,
    `Message-ID: <ooo-${Math.random().toString(36).slice(2)}@example.com>`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'I am out of the office until Monday.',
    '',
  ].join('\r\n');
}

/** An ARF complaint (RFC 5965). */
export function arf(opts: { to: string; recipient: string; messageId: string }): string {
  return [
    'From: feedback@fbl.example.net',
    `To: ${opts.to}`,
    'Subject: Abuse report',
    `Message-ID: <arf-${Math.random().toString(36).slice(2)}@fbl.example.net>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="A"',
    '',
    '--A',
    'Content-Type: text/plain',
    '',
    'This is an email abuse report.',
    '',
    '--A',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: ExampleFBL/1.0',
    'Version: 1',
    `Original-Rcpt-To: ${opts.recipient}`,
    '',
    '--A',
    'Content-Type: message/rfc822',
    '',
    'From: noreply@rgz.bj',
    `To: ${opts.recipient}`,
    `Message-ID: ${opts.messageId}`,
    'Subject: News',
    '',
    'Hello',
    '--A--',
    '',
  ].join('\r\n');
}

/** Sends raw mail over SMTP as a relay returning a report would (STARTTLS when offered, any certificate). */
export async function sendReport(
  port: number,
  envelope: { from: string; to: string[] },
  raw: string | Buffer,
): Promise<{ response: string }> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    tls: { rejectUnauthorized: false },
  });
  try {
    return await transport.sendMail({ envelope, raw });
  } finally {
    transport.close();
  }
}
