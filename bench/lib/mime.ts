/**
 * The delivery thread's MIME build, alone: buildMime (what MimeCache runs once per message) on the
 * benchmark's 2 KB notice, in this process, with no database or network. The reference is
 * Nodemailer composing the same message through its public API (a stream transport that only
 * returns the bytes), the way a plain Nodemailer sender builds each message.
 */
import { generateKeyPairSync } from 'node:crypto';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/platform/config.js';
import type { MessageRow } from '../../src/platform/db/schema.js';
import { buildMime, MimeCache } from '../../src/delivery/mime.js';

export interface Rendered {
  subject: string;
  html: string;
  text: string | null;
}

export interface MimeBuildFigures {
  /** Microseconds per buildMime, median of the rounds. */
  usPerBuild: number;
  usPerBuildSigned: number;
  usPerNodemailer: number;
  bytes: number;
}

const row = (i: number, r: Rendered): MessageRow =>
  ({
    id: `0195f0c2-7a7e-7000-8000-${String(i).padStart(12, '0')}`,
    recipient_email: `bench${i}@example.com`,
    cc: null,
    bcc: null,
    reply_to: null,
    headers: null,
    subject: r.subject,
    html_content: r.html,
    text_content: r.text,
    smtp_message_id: `<0195f0c2-7a7e-7000-8000-${String(i).padStart(12, '0')}@rgz.bj>`,
    created_at: Date.UTC(2026, 1, 1, 8) + i,
  }) as MessageRow;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `fn` in rounds of `n` after a warm-up; the median round's time per call, in µs. */
async function timePerCall(fn: (i: number) => Promise<unknown>, n: number, rounds: number): Promise<number> {
  for (let i = 0; i < Math.min(n, 2000); i++) await fn(i);
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn(i);
    per.push(((performance.now() - t0) * 1000) / n);
  }
  return Math.round(median(per) * 10) / 10;
}

export async function mimeBuildCost(
  rendered: Rendered,
  opts: { n?: number; rounds?: number } = {},
): Promise<MimeBuildFigures> {
  const n = opts.n ?? 5000;
  const rounds = opts.rounds ?? 5;
  const env = { SMTP_FROM_EMAIL: 'noreply@rgz.bj', SMTP_FROM_NAME: 'RGZ Notifications', LOG_LEVEL: 'fatal' };
  const sender = MimeCache.senderOf(loadConfig(env));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const signing = MimeCache.senderOf(
    loadConfig({ ...env, DKIM_DOMAIN: 'rgz.bj', DKIM_SELECTOR: 'bench', DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n') }),
  );
  const bytes = (await buildMime(row(0, rendered), [], sender)).raw.length;
  const usPerBuild = await timePerCall((i) => buildMime(row(i, rendered), [], sender), n, rounds);
  const usPerBuildSigned = await timePerCall(
    (i) => buildMime(row(i, rendered), [], signing),
    Math.ceil(n / 10),
    rounds,
  );
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true });
  const from = { name: 'RGZ Notifications', address: 'noreply@rgz.bj' };
  const usPerNodemailer = await timePerCall(
    (i) => {
      const m = row(i, rendered);
      const mail = { from, to: m.recipient_email, subject: m.subject, html: m.html_content!, text: m.text_content! };
      return composer.sendMail({ ...mail, messageId: m.smtp_message_id, date: new Date(m.created_at) });
    },
    n,
    rounds,
  );
  return { usPerBuild, usPerBuildSigned, usPerNodemailer, bytes };
}
