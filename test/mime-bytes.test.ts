import { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { mimeBytes } from '../src/delivery/mime-bytes.js';
import { pdfBytes, pngBytes } from './helpers/fixtures.js';

type Mail = ConstructorParameters<typeof MailComposer>[0];

const base: Mail = {
  from: { name: 'RGZ Notifications', address: 'noreply@rgz.bj' },
  to: 'client@example.com',
  subject: 'Votre facture',
  messageId: '<0195f0c2-7a7e-7000-8000-000000000001@rgz.bj>',
  date: new Date('2026-02-01T08:00:00Z'),
  baseBoundary: '0123456789abcdef',
};

// Two compilations of the same mail: the walk must not depend on build() having run first.
const viaBuild = (mail: Mail) => new MailComposer({ ...base, ...mail }).compile().build();
const viaWalk = (mail: Mail) => mimeBytes(new MailComposer({ ...base, ...mail }).compile());

const cases: Record<string, Mail> = {
  'text and HTML with accents (quoted-printable)': {
    text: 'Bonjour Tech Connect SA,\nvotre facture de février 2026 est disponible.\n',
    html: '<p>Bonjour <b>Tech Connect SA</b>, votre facture de février 2026 — 100 000 FCFA.</p>',
  },
  'plain ASCII text alone (7bit)': { text: 'Short ASCII line.\nAnother one.' },
  'HTML alone with lines over 76 characters and trailing spaces': {
    html: `<table>${'<tr><td style="padding:4px;border:1px solid #ccc">cellule</td></tr>'.repeat(20)}</table>   \n  trailing   `,
  },
  'mostly non-Latin text (base64)': { subject: '請求書 2026年2月', text: '請求書が発行されました。'.repeat(30), html: '<p>請求書が発行されました。</p>'.repeat(10) },
  'emoji, CRLF, a lone CR and a word longer than a line': {
    subject: '🚨 Incident critique: lien fibre coupé',
    text: `Ligne 1\r\nLigne 2\rLigne 3\n${'x'.repeat(200)}\n=== fin ===`,
    html: `<p>${'y'.repeat(300)}</p><p>a=b&c</p>`,
  },
  'attachments: PDF, PNG and a text/csv file': {
    text: 'Voir pièces jointes.',
    html: '<p>Voir pièces jointes.</p>',
    attachments: [
      { filename: 'facture_2026-02.pdf', contentType: 'application/pdf', content: pdfBytes() },
      { filename: 'logo.png', contentType: 'image/png', content: pngBytes() },
      { filename: 'détail consommation.csv', contentType: 'text/csv', content: Buffer.from('date;montant\n2026-02-01;100 000\n') },
    ],
  },
  'cc, bcc, reply-to, display names to encode and extra headers': {
    to: '"Dupont, Jean" <jean@example.com>',
    cc: ['Zoé Kpadé <zoe@example.com>', 'ops@example.com'],
    bcc: ['audit@example.com'],
    replyTo: 'Support RGZ <support@rgz.bj>',
    headers: { 'X-Postier-Template': 'billing_invoice_monthly', 'List-Unsubscribe': '<https://rgz.bj/u/abc>' },
    text: 'Corps',
    html: '<p>Corps</p>',
  },
  'empty body': { text: '' },
  // Over the 64 KiB slices Nodemailer's stream encoders work in.
  'a 200 KB accented HTML body and a 300 KB attachment': {
    html: '<p>Relevé détaillé — consommation de février, ligne fibre n°42 à Cotonou.</p>\n'.repeat(2600),
    text: 'Relevé détaillé: voir la version HTML. '.repeat(2000),
    attachments: [{ filename: 'releve.bin', contentType: 'application/octet-stream', content: Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256)) }],
  },
};

describe('mimeBytes: the bytes of MimeNode.build(), without its streams', () => {
  for (const [name, mail] of Object.entries(cases)) {
    it(`is byte-identical to build() for ${name}`, async () => {
      const walked = viaWalk(mail);
      expect(walked).not.toBeNull();
      expect(walked!.toString('latin1')).toBe((await viaBuild(mail)).toString('latin1'));
    });
  }

  it('covers every transfer encoding build() chooses between', () => {
    const all = Object.values(cases).map((m) => viaWalk(m)!.toString('latin1')).join('\n');
    for (const encoding of ['7bit', 'quoted-printable', 'base64']) expect(all).toContain(`Content-Transfer-Encoding: ${encoding}`);
    expect(viaWalk(cases['mostly non-Latin text (base64)']!)!.toString()).toMatch(/text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64/);
  });

  it('produces mail that parses back to the same content', async () => {
    const mail = cases['attachments: PDF, PNG and a text/csv file']!;
    const parsed = await simpleParser(viaWalk(mail)!);
    expect(parsed.text?.trim()).toBe('Voir pièces jointes.');
    expect(parsed.attachments.map((a) => [a.filename, a.contentType, a.content.length])).toEqual([
      ['facture_2026-02.pdf', 'application/pdf', pdfBytes().length],
      ['logo.png', 'image/png', pngBytes().length],
      ['détail consommation.csv', 'text/csv', 32],
    ]);
    expect(parsed.attachments[0]!.content.equals(pdfBytes())).toBe(true);
  });

  it('declines, without touching the tree, what it does not cover: build() still gives the same bytes', async () => {
    const streamed: Mail = { text: 'Corps', attachments: [{ filename: 'a.txt', content: Readable.from([Buffer.from('streamed')]) }] };
    const node = new MailComposer({ ...base, ...streamed }).compile();
    expect(mimeBytes(node)).toBeNull();
    const fresh = await new MailComposer({ ...base, ...streamed, attachments: [{ filename: 'a.txt', content: Readable.from([Buffer.from('streamed')]) }] }).compile().build();
    expect((await node.build()).toString()).toBe(fresh.toString());

    expect(mimeBytes(new MailComposer({ ...base, text: 'x', newline: '\n' }).compile())).toBeNull();
    expect(mimeBytes(new MailComposer({ ...base, raw: 'Subject: raw\r\n\r\nbody' }).compile())).toBeNull();
  });
});
