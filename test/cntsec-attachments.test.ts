import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigPdf, invoiceWith } from './helpers/content.js';
import { createTestContext, type TestContext } from './helpers/context.js';

const MAX = 1024 * 1024;
/** base64 as MIME, PEM or `base64` without -w0 write it: broken into lines of `width` characters. */
const wrapped = (b: Buffer, width: number, eol: string) =>
  b.toString('base64').replace(new RegExp(`.{${width}}`, 'g'), `$&${eol}`);

// Validation only: the database does not matter here.
describe('attachment base64 and its size limit', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite', { EMAIL_MAX_ATTACHMENT_SIZE_MB: '1' });
  });
  afterAll(() => t.close());

  const send = (data_base64: string) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        ...invoiceWith('wrapped@example.com'),
        attachments: [{ filename: 'invoice.pdf', content_type: 'application/pdf', data_base64 }],
      },
    });

  it.each([
    ['76 columns, CRLF (MIME)', 76, '\r\n'],
    ['76 columns, LF (base64)', 76, '\n'],
    ['64 columns, LF (PEM)', 64, '\n'],
  ])('accepts a file just under the limit whose base64 is wrapped at %s', async (_name, width, eol) => {
    const pdf = bigPdf(MAX - 100, width + eol.length);
    const res = await send(wrapped(pdf, width, eol));
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().items[0].id as string;
    const m = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
    const dl = await t.inject({
      method: 'GET',
      url: `/api/v1/email/messages/${id}/attachments/${m.attachments[0].id}`,
    });
    expect(dl.statusCode).toBe(200);
    expect(Buffer.compare(dl.rawPayload, pdf)).toBe(0);
  });

  it('refuses a wrapped file one byte over the limit, naming its size', async () => {
    const res = await send(wrapped(bigPdf(MAX + 1, 5), 76, '\r\n'));
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({
      code: 'invalid_attachment',
      details: { index: 0, size_bytes: MAX + 1, max_bytes: MAX },
    });
  });

  it('refuses base64 far longer than the limit allows, even as line breaks, before decoding it', async () => {
    const res = await send(wrapped(bigPdf(MAX - 100, 6), 4, '\r\n'));
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'invalid_attachment', details: { index: 0, max_bytes: MAX } });
  });
});

describe('attachment file name length', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
  });
  afterAll(() => t.close());

  it('says why a name of 200 emoji (under the 255 characters the schema counts) is too long', async () => {
    const filename = `${'😀'.repeat(200)}.pdf`;
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        ...invoiceWith('long-name@example.com'),
        attachments: [{ filename, content_type: 'application/pdf', data_base64: bigPdf(2000, 1).toString('base64') }],
      },
    });
    expect(res.statusCode).toBe(422);
    const error = res.json().error;
    expect(error).toMatchObject({
      code: 'invalid_attachment',
      details: { index: 0, field: 'filename', length: 404, max_length: 255 },
    });
    expect(error.message).toContain('UTF-16 code units');
  });

  it('says a name without an extension has none, and which one is expected', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        ...invoiceWith('no-ext@example.com'),
        attachments: [
          { filename: 'invoice', content_type: 'application/pdf', data_base64: bigPdf(2000, 3).toString('base64') },
        ],
      },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.message).toMatch(/filename has no extension \(expected \.pdf\)/);
  });

  it('accepts a name of 255 code units', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        ...invoiceWith('long-name@example.com'),
        attachments: [
          {
            filename: `${'é'.repeat(251)}.pdf`,
            content_type: 'application/pdf',
            data_base64: bigPdf(2000, 2).toString('base64'),
          },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
  });
});
