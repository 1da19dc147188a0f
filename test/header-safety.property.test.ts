import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtMime } from './helpers/built-mime.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { pdfBytes } from './helpers/fixtures.js';
import {
  type MailparserReading,
  type PythonPart,
  type PythonReading,
  readWithMailparser,
  readWithPython,
} from './helpers/mail-readers.js';
import { newTemplate } from './helpers/templates.js';

/**
 * Arbitrary strings, crafted encoded words, RFC 2231 pieces, control and bidi characters go into
 * a subject variable and an attachment filename through POST /api/v1/email/send; what is accepted
 * is built by the worker's MimeCache and read back by Python's `email` package (one process for
 * the batch) and by mailparser. Every input is either refused with the documented 422 or
 * delivered so that both parsers read exactly the accepted text: no control or bidi character,
 * no extra header, no path separator or leading dot in a filename parameter.
 * PROPERTY_SEED=n reproduces a run; PROPERTY_RUNS=n runs more (the default keeps the suite quick).
 */

const seed = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const runs = Number(process.env.PROPERTY_RUNS ?? 300);

const DANGEROUS = [
  '\r',
  '\n',
  '\r\n',
  '\u0000',
  '\t',
  '\u0007',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u2028',
  '\u2029',
  '\u202a',
  '\u202e',
  '\u2066',
  '\u2069',
  '\u200e',
  '\u200f',
  '\u061c',
  '/',
  '\\',
  '..',
  '.',
  '／',
  '＼',
  'Bcc: victim@example.com',
  '\r\nX-Injected: 1',
  '"',
  ';',
  '=?',
  '?=',
  '%2F',
  '%2e%2e%2f',
  '%0D%0A',
  '%00',
  "'",
  "''",
  '*0*=',
  '=?utf-8?Q?=0D=0A?=',
  ' ',
  '  ',
  'é',
  '🧾',
  '\ud800',
  '\ufeff',
];
const CHARSETS = [
  'utf-8',
  'UTF-8',
  'iso-8859-1',
  'us-ascii',
  'windows-1252',
  'utf-16le',
  'utf-7',
  'x-unknown',
  'utf-8*fr',
  '',
];

const hex = (b: number) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
const text = fc
  .array(
    fc.oneof(fc.constantFrom(...DANGEROUS), fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 })),
    { maxLength: 6 },
  )
  .map((a) => a.join(''));
const qEncode = (bytes: Buffer, keep: (c: string) => boolean) =>
  [...bytes].map((b) => (keep(String.fromCharCode(b)) ? String.fromCharCode(b) : b === 0x20 ? '_' : hex(b))).join('');

const encodedWord = fc
  .tuple(fc.constantFrom(...CHARSETS), fc.constantFrom('Q', 'B', 'q', 'b'), text)
  .map(([charset, enc, t]) => {
    const bytes = charset.startsWith('utf-16')
      ? Buffer.from(t, 'utf16le')
      : /8859|ascii|1252/.test(charset)
        ? Buffer.from(t, 'latin1')
        : Buffer.from(t);
    const body =
      enc.toUpperCase() === 'B'
        ? bytes.toString('base64')
        : qEncode(bytes, (c) => c > ' ' && c < '\x7f' && !'=?_'.includes(c));
    return `=?${charset}?${enc}?${body}?=`;
  });
/** An encoded word holding an encoded word. */
const nested = encodedWord.map((w) => `=?utf-8?Q?${qEncode(Buffer.from(w), (c) => /[A-Za-z0-9]/.test(c))}?=`);
const rfc2231 = text.map(
  (t) => `utf-8''${[...Buffer.from(t)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`,
);
const long = fc.oneof(
  fc.string({ minLength: 80, maxLength: 200 }),
  fc.constantFrom('é'.repeat(120), 'word '.repeat(40), `${'x'.repeat(100)}=?`),
);

const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DANGEROUS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  { weight: 3, arbitrary: encodedWord },
  { weight: 1, arbitrary: nested },
  { weight: 1, arbitrary: rfc2231 },
  { weight: 1, arbitrary: long },
);
const value = fc.oneof(
  { weight: 2, arbitrary: fc.array(piece, { maxLength: 5 }).map((a) => a.join('').slice(0, 240)) },
  // Mostly harmless text, so that enough inputs are accepted for the parsers to check.
  {
    weight: 1,
    arbitrary: fc
      .array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 10 }), encodedWord, long), { maxLength: 3 })
      .map((a) => a.join('').slice(0, 240)),
  },
);
const inputs = fc.record({ v: value, name: fc.option(value, { nil: undefined, freq: 2 }) });

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;

function attachmentOf(tree: PythonPart): PythonPart | undefined {
  if (tree.disposition === 'attachment') return tree;
  for (const c of tree.children ?? []) {
    const found = attachmentOf(c);
    if (found) return found;
  }
  return undefined;
}

interface Accepted {
  input: { v: string; name?: string };
  subject: string;
  filename: string | undefined;
  raw: Buffer;
}

describe(`header safety, property-based (seed ${seed}, ${runs} inputs)`, () => {
  let t: TestContext;
  const accepted: Accepted[] = [];
  const refused: Array<{
    input: { v: string; name?: string };
    status: number;
    error: { code: string; details?: Record<string, unknown> };
  }> = [];
  let python: PythonReading[] = [];
  let mailparser: MailparserReading[] = [];
  /** The fields every message has; a single-part message (an empty text left out) adds its Content-Transfer-Encoding. */
  const expectedFields = (r: { tree: PythonPart }) =>
    [
      'content-type',
      'date',
      'from',
      'message-id',
      'mime-version',
      'reply-to',
      'subject',
      'to',
      ...(r.tree.children ? [] : ['content-transfer-encoding']),
    ].sort();

  beforeAll(async () => {
    t = await createTestContext('sqlite');
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('prop_headers', {
        required_variables: ['v'],
        subject: 'Sujet {{ v }}',
        html_content: '<p>{{ v }}</p>',
        text_content: null,
        attachments_allowed: true,
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
    const pdf = pdfBytes().toString('base64');
    const samples = [{ v: 'référence', name: 'facture.pdf' }, ...fc.sample(inputs, { numRuns: runs, seed })];
    const ids: string[] = [];
    for (const [i, input] of samples.entries()) {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: {
          to: `p${i}@example.com`,
          template_key: 'prop_headers',
          variables: { v: input.v },
          ...(input.name === undefined
            ? {}
            : { attachments: [{ filename: `${input.name}.pdf`, content_type: 'application/pdf', data_base64: pdf }] }),
        },
      });
      if (res.statusCode === 201) {
        const id = res.json().items[0].id as string;
        const row = await t.services.db
          .selectFrom('email_messages')
          .select('subject')
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        const att = await t.services.db
          .selectFrom('email_attachments')
          .select('filename')
          .where('message_id', '=', id)
          .executeTakeFirst();
        ids.push(id);
        accepted.push({ input, subject: row.subject, filename: att?.filename, raw: Buffer.alloc(0) });
      } else {
        refused.push({ input, status: res.statusCode, error: res.json().error });
      }
    }
    const raws = await builtMime(t, ids);
    raws.forEach((raw, i) => (accepted[i]!.raw = raw));
    python = await readWithPython(raws);
    mailparser = await Promise.all(raws.map((r) => readWithMailparser(r)));
  }, 240_000);
  afterAll(() => t?.close());

  it('accepts some inputs and refuses others (the generator reaches both sides)', () => {
    expect(accepted.length).toBeGreaterThan(runs / 10);
    expect(refused.filter((r) => r.error.code === 'invalid_header_value').length).toBeGreaterThan(0);
    expect(refused.filter((r) => r.error.code === 'invalid_attachment').length).toBeGreaterThan(0);
    // Accepted inputs include literal encoded words, which must then be delivered as text.
    expect(
      accepted.filter((a) => /=\?[^?]*\?[bBqQ]\?[^?]*\?=/.test(a.subject + (a.filename ?? ''))).length,
    ).toBeGreaterThan(0);
  });

  it('refuses only with the documented 422s naming the field (or the 400 for a raw NUL or an unpaired surrogate anywhere in a request)', () => {
    for (const r of refused) {
      const notText = [r.input.v, r.input.name ?? ''].some((s) => s.includes('\u0000') || !s.isWellFormed());
      const ok =
        (notText && r.status === 400 && r.error.code === 'invalid_request') ||
        (r.status === 422 &&
          ((r.error.code === 'invalid_header_value' && r.error.details?.field === 'subject') ||
            (r.error.code === 'invalid_attachment' &&
              r.error.details?.index === 0 &&
              r.error.details?.field === 'filename')));
      expect(ok, JSON.stringify(r)).toBe(true);
    }
  });

  it('writes no raw control character, nothing but ASCII and CRLF line breaks', () => {
    for (const a of accepted) {
      expect(
        a.raw.every((b) => b < 0x80 && b !== 0),
        JSON.stringify(a.input),
      ).toBe(true);
      expect(a.raw.toString('latin1'), JSON.stringify(a.input)).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
    }
  });

  it('Python reads exactly the accepted subject and filename, with no control, bidi or extra header', () => {
    for (const [i, a] of accepted.entries()) {
      const r = python[i]!;
      const why = JSON.stringify({ input: a.input, reading: r });
      expect(r.error, why).toBeUndefined();
      expect([...r.header_names].sort(), why).toEqual(expectedFields(r));
      expect(r.headers.subject, why).toBe(a.subject);
      expect(CONTROL.test(a.subject) || BIDI.test(a.subject), why).toBe(false);
      const att = attachmentOf(r.tree);
      if (a.filename === undefined) {
        expect(att, why).toBeUndefined();
        continue;
      }
      const params = [
        (att?.content_type_params as Record<string, string> | null)?.name,
        (att?.disposition_params as Record<string, string> | null)?.filename,
      ];
      // get_filename() strips white space around the name (str.strip(): not U+FEFF); the parameters keep it.
      const pyStrip = (s: string) =>
        s.replace(
          /^[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+|[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+$/g,
          '',
        );
      expect(att?.filename, why).toBe(pyStrip(a.filename));
      expect(params, why).toEqual([a.filename, a.filename]);
      for (const f of params)
        expect(CONTROL.test(f!) || BIDI.test(f!) || /[/\\]/.test(f!) || f!.trimStart().startsWith('.'), why).toBe(
          false,
        );
    }
  });

  it('mailparser reads exactly the accepted subject and filename, with no extra header', () => {
    for (const [i, a] of accepted.entries()) {
      const m = mailparser[i]!;
      const why = JSON.stringify({ input: a.input, subject: m.subject, attachments: m.attachments });
      expect([...m.header_names].sort(), why).toEqual(expectedFields(python[i]!));
      expect(m.subject, why).toBe(a.subject);
      expect(
        m.attachments.map((x) => x.filename),
        why,
      ).toEqual(a.filename === undefined ? [] : [a.filename]);
    }
  });
});
