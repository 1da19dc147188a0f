import nodemailer from 'nodemailer';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MessageRow } from '../src/platform/db/schema.js';
import { buildMime, type MimeAttachment, type Sender } from '../src/delivery/mime/index.js';
import { pdfBytes, pngBytes } from './helpers/fixtures.js';
import {
  type MailparserReading,
  type PythonPart,
  type PythonReading,
  readWithMailparser,
  readWithPython,
} from './helpers/mail-readers.js';

/**
 * Postier's MIME writer against Nodemailer's for the same messages: both outputs are read by
 * Python's `email` package (policy=default) and by mailparser, and every reading must agree
 * (decoded headers, structure, transfer encodings, texts, attachment names, types and bytes),
 * as must the SMTP envelopes. Nodemailer composes through its public API (a stream transport
 * returning the bytes, with CRLF line breaks).
 */

interface Case {
  row?: Partial<MessageRow>;
  attachments?: MimeAttachment[];
  sender?: Partial<Sender>;
}

const baseRow = {
  recipient_email: 'client@example.com',
  cc: null,
  bcc: null,
  reply_to: null,
  headers: null,
  subject: 'Votre facture',
  text_content: 'Bonjour,\nvotre facture est disponible.\n',
  html_content: '<p>Bonjour, votre facture est disponible.</p>',
  smtp_message_id: '<0195f0c2-7a7e-7000-8000-000000000001@rgz.bj>',
  created_at: Date.UTC(2026, 1, 1, 8, 30, 15),
} as MessageRow;
const baseSender: Sender = { fromName: 'RGZ Notifications', fromEmail: 'noreply@rgz.bj', replyTo: undefined };

const accented =
  'Bonjour Tech Connect SA,\nvotre facture de février 2026 — 450 000 FCFA — est disponible. À régler sous 15 jours.\n';
/** 300 KB of bytes that cover every value. */
const noise = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256));
const japanese = '請求書が発行されました。ご確認ください。'.repeat(12);

const cases: Record<string, Case> = {
  'plain ASCII (7bit)': {
    row: {
      subject: 'Invoice INV-2026-0001',
      text_content: 'Short ASCII line.\nAnother one.\n',
      html_content: '<p>Short.</p>',
    },
  },
  'accented French (quoted-printable)': {
    row: { subject: 'Facture RGZ — février 2026', text_content: accented, html_content: `<p>${accented}</p>` },
  },
  'emoji and mostly non-Latin text (base64)': {
    row: { subject: '🚨 請求書 2026年2月 ⚠️', text_content: japanese, html_content: `<p>${japanese}</p>` },
  },
  'a long ASCII subject folded at spaces': {
    row: { subject: `Incident ${'critical fibre link down near Cotonou '.repeat(5)}end` },
  },
  'a long accented subject in several encoded words': {
    row: { subject: `Résumé mensuel — ${'consommation détaillée de la ligne fibre n°42 à Porto-Novo, '.repeat(4)}fin` },
  },
  'a subject word longer than a line': { row: { subject: `Code ${'X'.repeat(120)} expiré` } },
  'an ASCII subject word longer than a line': { row: { subject: `Token ${'a1b2'.repeat(40)}` } },
  'long lines, trailing spaces, CRLF, CR and LF': {
    row: {
      text_content: `Ligne 1\r\nLigne 2\nLigne 3\n${'x'.repeat(200)}\ntrailing   \n\tindent\n=== fin ===`,
      html_content: `<table>${'<tr><td style="padding:4px">cellule</td></tr>'.repeat(20)}</table>   \n  trailing   `,
    },
  },
  'ASCII lines just over 76 characters': {
    row: { text_content: `${'y'.repeat(77)}\n${'z'.repeat(76)}\n`, html_content: `<p>${'w'.repeat(76)}</p>` },
  },
  attachments: {
    row: { subject: 'Pièces jointes' },
    attachments: [
      { filename: 'facture_2026-02.pdf', content_type: 'application/pdf', data: pdfBytes() },
      { filename: 'logo.png', content_type: 'image/png', data: pngBytes() },
      {
        filename: 'détail consommation.csv',
        content_type: 'text/csv',
        data: Buffer.from('date;montant\n2026-02-01;100 000\n'),
      },
      {
        filename: 'relevé détaillé de la consommation de février 2026 — ligne fibre n°42.pdf',
        content_type: 'application/pdf',
        data: pdfBytes(),
      },
      { filename: 'Rapport annuel 2025.pdf', content_type: 'application/pdf', data: pdfBytes() },
      { filename: `${'annual-report-'.repeat(6)}final.pdf`, content_type: 'application/pdf', data: pdfBytes() },
      { filename: '請求書🧾.pdf', content_type: 'application/pdf', data: pdfBytes() },
      { filename: "l'été (copie) [1].pdf", content_type: 'application/pdf', data: pdfBytes() },
    ],
  },
  'one attachment and no text': {
    row: { text_content: null, html_content: null },
    attachments: [{ filename: 'a.pdf', content_type: 'application/pdf', data: pdfBytes() }],
  },
  'HTML only': { row: { text_content: null } },
  'text only': { row: { html_content: null } },
  'no content': { row: { text_content: null, html_content: null } },
  'cc, bcc, reply-to and custom headers': {
    row: {
      cc: JSON.stringify([
        'zoe@example.com',
        'ops@example.com',
        'a.very.long.address.for.folding@subdomain.example.org',
        'another.one@example.net',
      ]),
      bcc: JSON.stringify(['audit@example.com', 'zoe@example.com']),
      reply_to: 'support@rgz.bj',
      headers: JSON.stringify({
        'List-Unsubscribe': `<https://admin-rgz.duckdns.org/u/${'t0k3n'.repeat(20)}>, <mailto:unsub@rgz.bj?subject=unsubscribe%20${'t0k3n'.repeat(8)}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'X-Custom': 'Catégorie — facturation',
      }),
    },
  },
  'display names: quoted, encoded, with a comma': {
    sender: { fromName: 'Dupont, Jean (RGZ)' },
    row: { reply_to: 'support@rgz.bj' },
  },
  'an accented display name': { sender: { fromName: 'Zoé Kpadé — Facturation RGZ' } },
  "the message's own sender (raw and submitted mail)": {
    row: { from_email: 'factures@techconnect.bj', from_name: 'Facturation — Tech Connect' },
  },
  'an internationalized recipient domain': {
    row: { recipient_email: 'client@exämple.bj', cc: JSON.stringify(['ops@bücher.example']) },
  },
  'a 200 KB accented HTML body and a 300 KB attachment': {
    row: {
      html_content: '<p>Relevé détaillé — consommation de février, ligne fibre n°42 à Cotonou.</p>\n'.repeat(2600),
      text_content: 'Relevé détaillé: voir la version HTML. '.repeat(2000),
    },
    attachments: [
      { filename: 'releve.pdf', content_type: 'application/pdf', data: Buffer.concat([pdfBytes(), noise]) },
    ],
  },
};

const rowOf = (c: Case) => ({ ...baseRow, ...c.row }) as MessageRow;
const senderOf = (c: Case): Sender => ({ ...baseSender, ...c.sender });

async function viaNodemailer(c: Case) {
  const row = rowOf(c);
  const sender = senderOf(c);
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  const info = await transport.sendMail({
    from: row.from_email
      ? { name: row.from_name ?? '', address: row.from_email }
      : { name: sender.fromName, address: sender.fromEmail },
    to: row.recipient_email,
    cc: row.cc ? (JSON.parse(row.cc) as string[]) : undefined,
    bcc: row.bcc ? (JSON.parse(row.bcc) as string[]) : undefined,
    replyTo: row.reply_to ?? sender.replyTo,
    subject: row.subject,
    text: row.text_content ?? undefined,
    html: row.html_content ?? undefined,
    messageId: row.smtp_message_id,
    date: new Date(row.created_at),
    headers: row.headers ? (JSON.parse(row.headers) as Record<string, string>) : undefined,
    attachments: (c.attachments ?? []).map((a) => ({
      filename: a.filename,
      contentType: a.content_type,
      content: a.data!,
    })),
  });
  return { raw: info.message as Buffer, envelope: info.envelope as { from: string; to: string[] } };
}

/** Line breaks as text, whatever the transfer encoding carried (a base64 text part keeps the renderer's). */
const lf = (s: unknown) => (typeof s === 'string' ? s.replace(/\r\n/g, '\n') : s);

/** What must agree between the two writers' outputs: everything but boundaries and the order of header fields. */
function comparablePart(p: PythonPart): unknown {
  const { boundary: _b, ...params } = (p.content_type_params ?? {}) as Record<string, string>;
  return {
    type: p.type,
    params,
    disposition: p.disposition,
    disposition_params: p.disposition_params,
    filename: p.filename,
    transfer_encoding: p.transfer_encoding,
    defects: p.defects,
    sha256: p.type.startsWith('text/') && p.disposition !== 'attachment' ? undefined : p.sha256,
    text: lf(p.text),
    children: p.children?.map(comparablePart),
  };
}

const comparablePython = (r: PythonReading, dropBcc: boolean) => ({
  error: r.error,
  header_names: [...r.header_names].filter((h) => !(dropBcc && h === 'bcc')).sort(),
  // White space around a value is not part of it (Nodemailer may fold right after the colon).
  headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, typeof v === 'string' ? v.trim() : v])),
  tree: comparablePart(r.tree),
});

const comparableMailparser = (m: MailparserReading, dropBcc: boolean) => ({
  ...m,
  header_names: [...m.header_names].filter((h) => !(dropBcc && h === 'bcc')).sort(),
  text: lf(m.text),
  html: lf(m.html),
});

describe('MIME writer: the same readings as Nodemailer for the same messages', () => {
  const built: Record<
    string,
    { ours: Awaited<ReturnType<typeof buildMime>>; theirs: Awaited<ReturnType<typeof viaNodemailer>> }
  > = {};
  const python: Record<string, { ours: PythonReading; theirs: PythonReading }> = {};

  beforeAll(async () => {
    for (const [name, c] of Object.entries(cases)) {
      built[name] = {
        ours: await buildMime(rowOf(c), c.attachments ?? [], senderOf(c)),
        theirs: await viaNodemailer(c),
      };
    }
    const names = Object.keys(built);
    const readings = await readWithPython(names.flatMap((n) => [built[n]!.ours.raw, built[n]!.theirs.raw]));
    names.forEach((n, i) => (python[n] = { ours: readings[2 * i]!, theirs: readings[2 * i + 1]! }));
  });

  for (const name of Object.keys(cases)) {
    describe(name, () => {
      it('reads the same in Python (headers, structure, encodings, texts, attachments)', () => {
        const { ours, theirs } = python[name]!;
        expect(ours.error).toBeUndefined();
        // Nodemailer's stream transport keeps Bcc in its output; its SMTP transports, like ours, never send it.
        expect(comparablePython(ours, false)).toEqual(comparablePython(theirs, true));
        expect(ours.header_names).not.toContain('bcc');
      });

      it('reads the same in mailparser', async () => {
        const { ours, theirs } = built[name]!;
        expect(comparableMailparser(await readWithMailparser(ours.raw), false)).toEqual(
          comparableMailparser(await readWithMailparser(theirs.raw), true),
        );
      });

      it('has the same envelope', () => {
        expect(built[name]!.ours.envelope).toEqual(built[name]!.theirs.envelope);
      });

      it('is 7-bit, with CRLF line breaks only and lines within 78 characters', () => {
        const raw = built[name]!.ours.raw;
        expect(raw.every((b) => b < 0x80 && b !== 0)).toBe(true);
        const text = raw.toString('latin1');
        expect(text).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
        expect(text.endsWith('\r\n')).toBe(true);
        // A List-Unsubscribe URL cannot be folded or encoded: only the hard limit holds for its lines.
        const head = text.slice(0, text.indexOf('\r\n\r\n'));
        for (const f of head.split(/\r\n(?![ \t])/)) {
          const limit = /^List-Unsubscribe:/.test(f) ? 998 : 78;
          for (const line of f.split('\r\n')) expect(line.length, line).toBeLessThanOrEqual(limit);
        }
        for (const line of text.slice(head.length).split('\r\n')) expect(line.length, line).toBeLessThanOrEqual(78);
      });
    });
  }

  it('covers every transfer encoding and every structure', () => {
    const all = Object.values(built)
      .map((b) => b.ours.raw.toString('latin1'))
      .join('\n');
    for (const e of ['7bit', 'quoted-printable', 'base64']) expect(all).toContain(`Content-Transfer-Encoding: ${e}`);
    for (const t of ['multipart/mixed', 'multipart/alternative', 'text/plain', 'text/html', 'application/pdf'])
      expect(all).toContain(`Content-Type: ${t}`);
    expect(all).toMatch(/filename\*0\*=utf-8''/);
    expect(all).toMatch(/name="=\?UTF-8\?[QB]\?/);
  });
});

describe('MIME writer: safe whatever it is given', () => {
  const hostile: Case = {
    row: {
      subject: 'Facture\r\nBcc: victim@example.com\u0000 \u202Efdp.exe',
      cc: JSON.stringify(['a@example.com\r\nX-Injected: 1']),
      reply_to: 'support@rgz.bj\r\nX-Injected: 2',
      smtp_message_id: '<0195f0c2@rgz.bj>\r\nX-Injected: 3',
      headers: JSON.stringify({
        'X-Custom': 'v\r\nX-Injected: 4',
        'Bad\r\nX-Injected': '5',
        Subject: 'replaced?',
        Bcc: 'victim@example.com',
        'List-Unsubscribe': '<https://rgz.bj/u/x>\nX-Injected: 6',
      }),
    },
    sender: { fromName: 'RGZ\r\nX-Injected: 7' },
    attachments: [
      { filename: '..\r\n/evil\u0000\u202E.pdf', content_type: 'text/html\r\nX-Injected: 8', data: pdfBytes() },
    ],
  };

  it('writes no raw control character and no field the caller did not ask for', async () => {
    const { raw } = await buildMime(rowOf(hostile), hostile.attachments!, senderOf(hostile));
    const text = raw.toString('latin1');
    expect(text).not.toMatch(/\r(?!\n)|(?<!\r)\n|\u0000/);
    expect(text).not.toMatch(/^X-Injected|^Bcc|^Bad/im);
    const [py] = await readWithPython([raw]);
    const fields = [
      'cc',
      'content-type',
      'date',
      'from',
      'list-unsubscribe',
      'message-id',
      'mime-version',
      'reply-to',
      'subject',
      'to',
      'x-custom',
    ];
    expect([...py!.header_names].sort()).toEqual(fields);
    expect(py!.headers.subject).toBe('Facture  Bcc: victim@example.com  fdp.exe');
    const att = py!.tree.children!.at(-1)!;
    expect(att.type).toBe('application/octet-stream');
    expect(att.filename).toBe('..  /evil .pdf');
    const mp = await readWithMailparser(raw);
    expect(mp.subject).toBe('Facture  Bcc: victim@example.com  fdp.exe');
    expect(mp.header_names.filter((h) => /x-injected|bcc/.test(h))).toEqual([]);
  });

  it('writes a literal encoded word as text in every field it encodes', async () => {
    const word = '=?utf-8?Q?=2E=2E=2Fetc=2Fpasswd?=';
    const c: Case = {
      row: { subject: `Objet ${word}`, headers: JSON.stringify({ 'X-Custom': `Valeur ${word}` }) },
      // Short enough for one encoded word: Python keeps the space between two adjacent words in a
      // display name (RFC 2047 §6.2 drops it), for Nodemailer's output as for ours.
      sender: { fromName: 'Nom =?x?Q?y?=' },
      attachments: [{ filename: `${word}.pdf`, content_type: 'application/pdf', data: pdfBytes() }],
    };
    const { raw } = await buildMime(rowOf(c), c.attachments!, senderOf(c));
    const [py] = await readWithPython([raw]);
    expect(py!.headers.subject).toBe(`Objet ${word}`);
    expect(py!.headers['x-custom']).toBe(`Valeur ${word}`);
    expect(py!.headers.from).toEqual([{ name: 'Nom =?x?Q?y?=', address: 'noreply@rgz.bj' }]);
    const att = py!.tree.children!.at(-1)!;
    expect([att.filename, (att.content_type_params as Record<string, string>).name]).toEqual([
      `${word}.pdf`,
      `${word}.pdf`,
    ]);
    const mp = await readWithMailparser(raw);
    expect([mp.subject, mp.from[0]!.name, mp.attachments[0]!.filename]).toEqual([
      `Objet ${word}`,
      'Nom =?x?Q?y?=',
      `${word}.pdf`,
    ]);
  });

  it('turns a lone CR into a line break (canonical text; Nodemailer writes it raw and readers drop it)', async () => {
    const { raw } = await buildMime(
      rowOf({ row: { text_content: 'Ligne 1\rLigne 2', html_content: null } }),
      [],
      baseSender,
    );
    const [py] = await readWithPython([raw]);
    // The message ends with a line break, as Nodemailer's does.
    expect(lf(py!.tree.text)).toBe('Ligne 1\nLigne 2\n');
  });
});
