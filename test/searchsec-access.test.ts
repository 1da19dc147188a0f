import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendOk } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample } from './helpers/fixtures.js';

/** Outside review of the archive's read side: who may read it, and what a download's headers carry. */
describe.each(backends)('archive access and downloads (%s)', (backend) => {
  let t: TestContext;
  let id: string;
  let attachmentId: string;
  let sendToken: string;

  beforeAll(async () => {
    t = await createTestContext(backend);
    [id] = (await sendOk(t, invoiceExample())) as [string];
    const detail = await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` });
    attachmentId = detail.json().attachments[0].id;
    const key = await t.inject({ method: 'POST', url: '/api/v1/keys', payload: { name: 'sender', scope: 'send' } });
    sendToken = key.json().token;
  });
  afterAll(() => t.close());

  it('a send key reads nothing of the archive (403), an unknown id is a 404, a bad one a 400', async () => {
    for (const url of [
      '/api/v1/email/messages',
      `/api/v1/email/messages?to=${encodeURIComponent('reseller@techconnect.bj')}`,
      `/api/v1/email/messages/${id}`,
      `/api/v1/email/messages/${id}/attachments/${attachmentId}`,
      `/api/v1/email/messages/${id}/link-check`,
      `/api/v1/email/messages/${id}/html-check`,
      '/api/v1/email/stats',
    ]) {
      const res = await t.inject({ method: 'GET', url, token: sendToken });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error.code, url).toBe('forbidden');
    }
    // A send key did not send it: cancelling it is "no such message", not a hint that it exists.
    const cancel = await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}`, token: sendToken });
    expect(cancel.statusCode).toBe(404);
    const other = '00000000-0000-7000-8000-000000000000';
    expect((await t.inject({ method: 'GET', url: `/api/v1/email/messages/${other}` })).statusCode).toBe(404);
    // The attachment of another message, by its id: not found under this one.
    expect(
      (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${other}/attachments/${attachmentId}` }))
        .statusCode,
    ).toBe(404);
    for (const bad of ['..%2F..%2Fetc%2Fpasswd', 'x'.repeat(300)]) {
      const res = await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}/attachments/${bad}` });
      expect(res.statusCode, bad).toBe(400);
    }
  });

  it('a stored file name reaches Content-Disposition only percent-encoded, whatever it holds', async () => {
    // Rows written before today's checks (or by hand) may hold anything: quotes, CR LF, non-ASCII.
    for (const filename of [
      'Facture "mars"; été.pdf',
      'a\r\nSet-Cookie: x=1.pdf',
      '../../etc/passwd',
      '😀 ﬁ.pdf',
      "O'Brien (1) *.pdf",
      'back\\slash.pdf',
    ]) {
      await t.services.db.updateTable('email_attachments').set({ filename }).where('id', '=', attachmentId).execute();
      const res = await t.inject({
        method: 'GET',
        url: `/api/v1/email/messages/${id}/attachments/${attachmentId}`,
      });
      expect(res.statusCode, filename).toBe(200);
      expect(res.headers['set-cookie'], filename).toBeUndefined();
      const disposition = String(res.headers['content-disposition']);
      // RFC 6266: an ASCII fallback (no quote, backslash or control), then the exact name RFC 5987-encoded.
      const m = /^attachment; filename="([\x20-\x7e]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)$/.exec(
        disposition,
      );
      expect(m, disposition).not.toBeNull();
      expect(m![1]).not.toMatch(/["\\]/);
      expect(decodeURIComponent(m![2]!)).toBe(filename);
      expect(disposition).toMatch(/^[\x21-\x7e ]+$/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });
});
