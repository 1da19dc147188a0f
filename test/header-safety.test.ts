import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filenameProblem, headerTextProblem, neutralizeHeaderText } from '../src/platform/header-safety.js';
import { builtMime } from './helpers/built-mime.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { pdfBytes } from './helpers/fixtures.js';
import { readWithMailparser, readWithPython } from './helpers/mail-readers.js';
import { newTemplate } from './helpers/templates.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('header safety: every reading a client could make of a value', () => {
  it.each([
    ['CR LF in a Q encoded word', '=?utf-8?Q?a=0D=0ABcc:_x@y.z?=', 'control_character'],
    ['an encoded word inside a word', 'x=?utf-8?Q?a=00b?=y', 'control_character'],
    ['spaces inside the encoded text', '=?utf-8?Q?a b=0A?=', 'control_character'],
    ['a bidi override in a B encoded word', `=?UTF-8?B?${b64('facture \u202Efdp.exe')}?=`, 'bidi_control'],
    ['an isolate', `=?utf-8?b?${b64('\u2067x')}?=`, 'bidi_control'],
    ['a C1 control in Latin-1 (windows-1252 for WHATWG, C1 for Python)', '=?iso-8859-1?Q?=85?=', 'control_character'],
    ['a line separator', `=?utf-8?B?${b64('a\u2028b')}?=`, 'control_character'],
    ['an encoded word of an encoded word', '=?utf-8?Q?=3D=3Futf-8=3FQ=3F=0D=0A=3F=3D?=', 'control_character'],
    [
      'UTF-16, which WHATWG and Python both decode',
      `=?utf-16le?B?${Buffer.from('a\r\nb', 'utf16le').toString('base64')}?=`,
      'control_character',
    ],
    ['UTF-7, which Python decodes and Postier cannot', '=?utf-7?Q?+AA0-?=', 'undecodable_encoded_word'],
    ['an unknown charset', '=?x-mystery?Q?abc?=', 'undecodable_encoded_word'],
    ['a raw bidi override', 'Facture \u202Efdp.exe', 'bidi_control'],
  ])('refuses %s in a subject', (_name, value, reason) => {
    expect(headerTextProblem(value)).toMatchObject({ reason });
  });

  it.each([
    ['plain text', 'Facture RGZ — février 2026 ⚠️'],
    ['a literal encoded word that decodes to plain text', 'Code =?utf-8?Q?bonjour?= reçu'],
    ['question marks and equal signs', 'a ?= b =? c = ? d'],
    ['bidi marks (U+200E, U+200F, U+061C)', 'فاتورة \u200Fرقم 42\u200E \u061C'],
  ])('accepts %s in a subject', (_name, value) => {
    expect(headerTextProblem(value)).toBeNull();
  });

  it.each([
    ['a slash', '../../etc/passwd.pdf', 'path_separator', false],
    ['a backslash', '..\\win.pdf', 'path_separator', false],
    ['a slash in an encoded word', '=?utf-8?Q?=2E=2E=2F=2E=2E=2Fetc=2Fpasswd?=.pdf', 'path_separator', true],
    ['a slash in a B encoded word', `=?utf-8?B?${b64('../../etc/passwd')}?=.pdf`, 'path_separator', true],
    ['a percent-escaped slash', '..%2F..%2Fetc.pdf', 'path_separator', true],
    ['an RFC 2231 value', "utf-8''%2E%2E%2Fx.pdf", 'path_separator', true],
    ['an RFC 2231 value holding an encoded word', "utf-8''%3D%3Futf-8%3FQ%3F%3D2F%3F%3D.pdf", 'path_separator', true],
    ['a fullwidth solidus (Windows best fit, NFKC)', '..／..／x.pdf', 'path_separator', true],
    ['a leading dot', '.hidden.pdf', 'leading_dot', false],
    ['a leading dot in an encoded word', '=?utf-8?Q?.htaccess?=.pdf', 'leading_dot', true],
    ['a tab', 'a\tb.pdf', 'control_character', false],
    ['NUL in an encoded word', '=?utf-8?Q?a=00?=.pdf', 'control_character', true],
    ['a right-to-left override', 'invoice\u202Efdp.exe', 'bidi_control', false],
  ])('refuses a filename with %s', (_name, value, reason, decoded) => {
    expect(filenameProblem(value)).toEqual({ reason, decoded });
  });

  const safeNames = [
    ['facture_2026-02.pdf'],
    ['détail consommation (1).csv'],
    ["l'été d'hiver.pdf"],
    ['=?utf-8?Q?facture?=.pdf'],
    ['100% payé.pdf'],
  ];
  it.each(safeNames)('accepts the filename %s', (name) => {
    expect(filenameProblem(name)).toBeNull();
  });

  it('leaves the writer nothing to carry: controls become spaces, bidi controls go', () => {
    expect(neutralizeHeaderText('a\r\nBcc: x\u0000\u0085\u2028y\u202Ez')).toBe('a  Bcc: x   yz');
    expect(neutralizeHeaderText('Facture — février')).toBe('Facture — février');
  });
});

describe.each(backends)('header values through the send API on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('hdr_safety', {
        required_variables: ['v'],
        subject: 'Sujet {{ v }}',
        html_content: '<p>{{ v }}</p>',
        text_content: null,
        attachments_allowed: true,
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
  });
  afterAll(() => t.close());

  const send = (variables: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'client@example.com', template_key: 'hdr_safety', variables, ...extra },
    });
  const pdf = (filename: string) => ({
    attachments: [{ filename, content_type: 'application/pdf', data_base64: pdfBytes().toString('base64') }],
  });

  it.each([
    ['an encoded CR LF', '=?utf-8?Q?x=0D=0ABcc:_victim@example.com?='],
    ['an encoded NUL', '=?UTF-8?B?AA==?='],
    ['an encoded bidi override', `=?utf-8?B?${b64('\u202Egnp.exe')}?=`],
    ['a raw bidi isolate', 'a\u2066b'],
  ])('refuses a subject variable holding %s: 422 invalid_header_value naming the subject', async (_name, v) => {
    const res = await send({ v });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'invalid_header_value', details: { field: 'subject' } });
  });

  it.each([
    ['an encoded path', '=?utf-8?Q?=2E=2E=2F=2E=2E=2Fetc=2Fpasswd?=.pdf', 'path_separator'],
    ['an encoded CR LF', '=?utf-8?Q?a=0D=0AContent-Type:_text/html?=.pdf', 'control_character'],
    ['an encoded leading dot', '=?utf-8?B?LmJhc2hyYw==?=.pdf', 'leading_dot'],
  ])(
    'refuses a filename holding %s: 422 invalid_attachment naming the index and field',
    async (_name, filename, reason) => {
      const res = await send({ v: 'ok' }, pdf(filename));
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().error).toMatchObject({
        code: 'invalid_attachment',
        details: { index: 0, field: 'filename', reason, decoded: true },
      });
    },
  );

  it.each([['to'], ['cc'], ['reply_to']])(
    'refuses an encoded word in %s (a valid local part that Python would decode)',
    async (field) => {
      const res = await send({ v: 'ok' }, { [field]: '=?utf-8?Q?a=0D=0A?=@example.com' });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().error).toMatchObject({ code: 'invalid_address', details: { field } });
    },
  );

  it('sends a literal encoded word as the text it is: clients show it, they do not decode it', async () => {
    const subjectVar = '=?utf-8?Q?Urgent?= =?utf-8?B?UGF5?=';
    const filename = '=?utf-8?Q?facture?= 2026.pdf';
    const res = await send({ v: subjectVar }, pdf(filename));
    expect(res.statusCode, res.body).toBe(201);
    const [raw] = await builtMime(t, [res.json().items[0].id]);
    const [py] = await readWithPython([raw!]);
    expect(py!.headers.subject).toBe(`Sujet ${subjectVar}`);
    const attachment = py!.tree.children!.at(-1)!;
    expect(attachment.filename).toBe(filename);
    expect(attachment.content_type_params).toMatchObject({ name: filename });
    const mp = await readWithMailparser(raw!);
    expect(mp.subject).toBe(`Sujet ${subjectVar}`);
    expect(mp.attachments[0]!.filename).toBe(filename);
  });
});
