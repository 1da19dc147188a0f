import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { type AddressObject, simpleParser } from 'mailparser';

/** What Python's `email` package (policy=default) shows for a message: see read_mail.py. */
export interface PythonPart {
  type: string;
  content_type_params: Record<string, string> | null | { error: string };
  disposition: string | null;
  disposition_params: Record<string, string> | null | { error: string };
  filename: string | null | { error: string };
  transfer_encoding: string | null;
  defects: string[];
  children?: PythonPart[];
  sha256?: string;
  size?: number;
  text?: string | { error: string };
}

export interface PythonReading {
  header_names: string[];
  headers: Record<string, unknown>;
  tree: PythonPart;
  error?: string;
}

const run = promisify(execFile);

/** Reads a batch of messages with one /usr/bin/python3 process. */
export async function readWithPython(raws: Buffer[]): Promise<PythonReading[]> {
  const child = run('/usr/bin/python3', [path.join(import.meta.dirname, 'read_mail.py')], {
    maxBuffer: 512 * 1024 * 1024,
  });
  child.child.stdin!.end(JSON.stringify(raws.map((r) => r.toString('base64'))));
  const { stdout } = await child;
  return JSON.parse(stdout) as PythonReading[];
}

/** What mailparser shows for a message, in the same terms. */
export interface MailparserReading {
  header_names: string[];
  subject: string | undefined;
  from: Array<{ name: string; address: string | undefined }>;
  to: Array<{ name: string; address: string | undefined }>;
  cc: Array<{ name: string; address: string | undefined }>;
  replyTo: Array<{ name: string; address: string | undefined }>;
  messageId: string | undefined;
  date: string | undefined;
  text: string | undefined;
  html: string | false | undefined;
  attachments: Array<{ filename: string | undefined; contentType: string; sha256: string; size: number }>;
}

const list = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((o) => o.value.map((v) => ({ name: v.name, address: v.address })));

export async function readWithMailparser(raw: Buffer): Promise<MailparserReading> {
  const m = await simpleParser(raw, { skipTextToHtml: true, skipHtmlToText: true });
  return {
    header_names: m.headerLines.map((h) => h.key),
    subject: m.subject,
    from: list(m.from),
    to: list(m.to),
    cc: list(m.cc),
    replyTo: list(m.replyTo),
    messageId: m.messageId,
    date: m.date?.toISOString(),
    text: m.text,
    html: m.html,
    attachments: m.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      sha256: createHash('sha256').update(a.content).digest('hex'),
      size: a.size,
    })),
  };
}
