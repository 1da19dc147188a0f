import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../src/app/serve.js';
import { checkLinks } from '../src/checks/links.js';
import { MASK, maskedValues, maskText } from '../src/capture/mask.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample, invoiceExample } from './helpers/fixtures.js';

const PASSWORD = 'Vq7#mR2p<Lw9z&';
const provisioned = {
  to: 'client@techconnect.bj',
  template_key: 'instance_provisioned',
  variables: {
    customer_name: 'Aminata Houngbédji',
    instance_name: 'techconnect-erp',
    protocol: 'https',
    domain: 'techconnect-erp.cloud.rgz.bj',
    login: 'admin@techconnect.bj',
    password: PASSWORD,
    plan: 'Business',
  },
};

describe('masking what the archive masks', () => {
  it('recovers the values standing where the archive has a mask, and masks them and their HTML form', () => {
    expect(maskedValues(`Login a, password ${MASK}, code ${MASK}.`, 'Login a, password p<w&, code 1234.')).toEqual([
      'p<w&',
      '1234',
    ]);
    expect(maskedValues(`${MASK}`, 'whole')).toEqual(['whole']);
    expect(maskedValues('no mask', 'no mask')).toEqual([]);
    expect(maskedValues(`A ${MASK} B`, 'different text')).toEqual([]);
    expect(maskText('p<w& and p&lt;w&amp;', ['p<w&'])).toBe(`${MASK} and ${MASK}`);
  });

  it('lists links with what is wrong with them, without a request', () => {
    const links = checkLinks(
      '<a href="https://ok.example/x">a</a><a href="http://plain.example">b</a><img src="http://localhost:8000/i.png">' +
        '<a href=" JaVaScript:alert(1)">c</a><a href="">d</a><a href="mailto:a@b.c">e</a>',
    );
    expect(links.map((l) => [l.url, l.problems])).toEqual([
      ['https://ok.example/x', []],
      ['http://plain.example', ['not_https']],
      ['http://localhost:8000/i.png', ['not_https', 'local_host']],
      ['JaVaScript:alert(1)', ['unsafe_scheme']],
      ['', ['empty']],
      ['mailto:a@b.c', []],
    ]);
  });
});

// The two databases side by side: much of a run is waiting for the worker to deliver into the
// capture inbox. The tests of one database run in order: they share its context and inbox.
describe.concurrent.each(backends)('the capture inbox on %s', (backend) => {
  describe.sequential('in order', () => {
    let t: TestContext;
    let running: Running;
    let base: string;

    beforeAll(async () => {
      t = await createTestContext(backend, { CAPTURE_SMTP_PORT: '0', WORKER_POLL_MS: '20' });
      running = await serve(t.services, { api: false, worker: true, retention: false });
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    });
    afterAll(async () => {
      await running.stop();
      await t.close();
    });

    const inbox = async (query = '') => (await t.inject({ method: 'GET', url: `/api/v1/dev/inbox${query}` })).json();

    it('searches subject, sender and recipients case-insensitively, and pages the result', async () => {
      await t.inject({ method: 'DELETE', url: '/api/v1/dev/inbox' });
      const ids = await sendOk(t, {
        ...invoiceExample(),
        to: ['Alpha@Example.com', 'beta@example.com', 'gamma@example.com'],
      });
      const [incident] = await sendOk(t, { ...incidentExample(), to: 'noc@rgz.bj' });
      await waitForStatus(t, [...ids, incident!], ['captured']);
      expect((await inbox('?q=alpha@EXAMPLE')).items.map((i: { to: string[] }) => i.to)).toEqual([
        ['Alpha@example.com'],
      ]);
      expect((await inbox('?q=FACTURE')).total).toBe(3);
      expect((await inbox('?q=rgz notifications')).total).toBe(4);
      expect((await inbox('?q=%25')).total).toBe(0); // a literal %, not a wildcard
      const first = await inbox('?q=facture&limit=2');
      expect(first.items).toHaveLength(2);
      const second = await inbox(`?q=facture&limit=2&cursor=${first.next_cursor}`);
      expect(second.items).toHaveLength(1);
      expect(second.next_cursor).toBeNull();
    });

    it('deletes one mail, several, and refuses an empty or oversized list', async () => {
      const all = (await inbox()).items as { id: string }[];
      expect(all.length).toBeGreaterThanOrEqual(3);
      const one = await t.inject({ method: 'DELETE', url: `/api/v1/dev/inbox/${all[0]!.id}` });
      expect(one.statusCode).toBe(204);
      expect((await t.inject({ method: 'DELETE', url: `/api/v1/dev/inbox/${all[0]!.id}` })).statusCode).toBe(404);
      const many = await t.inject({
        method: 'POST',
        url: '/api/v1/dev/inbox/delete',
        payload: { ids: [all[1]!.id, all[2]!.id, '01900000-0000-7000-8000-000000000000'] },
      });
      expect(many.json()).toEqual({ deleted: 2 });
      expect(
        (await t.inject({ method: 'POST', url: '/api/v1/dev/inbox/delete', payload: { ids: [] } })).statusCode,
      ).toBe(400);
      expect((await inbox()).total).toBe(all.length - 3);
    });

    it('links a captured mail to its archived message and masks the values the archive masks', async () => {
      const [id] = await sendOk(t, provisioned);
      await waitForStatus(t, [id!], ['captured']);
      const item = (await inbox('?q=client@techconnect.bj')).items[0];
      const res = await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${item.id}` });
      const mail = res.json();
      expect(mail).toMatchObject({ archived_message_id: id, masked: true });
      expect(res.body).not.toContain('Vq7#mR2p');
      expect(mail.html).toContain(MASK);
      expect(mail.text).toContain(MASK);
      const raw = await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${item.id}/raw` });
      expect(raw.statusCode).toBe(409);
      expect(raw.body).not.toContain('Vq7#mR2p');

      // A mail without sensitive values: linked, not masked, its .eml served.
      const [plain] = await sendOk(t, { ...incidentExample(), to: 'plain@example.com' });
      await waitForStatus(t, [plain!], ['captured']);
      const other = (await inbox('?q=plain@example.com')).items[0];
      const otherMail = (await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${other.id}` })).json();
      expect(otherMail).toMatchObject({ archived_message_id: plain, masked: false });
      expect(otherMail.links.some((l: { url: string }) => l.url === 'https://status.rgz.bj')).toBe(true);
      const eml = await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${other.id}/raw` });
      expect(eml.statusCode).toBe(200);
      expect(eml.headers['content-disposition']).toBe(`attachment; filename="${other.id}.eml"`);
    });

    it('streams inbox changes as server-sent events to an admin, and refuses anyone else', async () => {
      const refused = await fetch(`${base}/api/v1/dev/inbox/events`);
      expect(refused.status).toBe(401);
      const abort = new AbortController();
      const res = await fetch(`${base}/api/v1/dev/inbox/events`, {
        headers: { authorization: `Bearer ${t.config.adminToken}` },
        signal: abort.signal,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const nextEvent = async () => {
        for (;;) {
          const end = text.indexOf('\n\n');
          if (end !== -1) {
            const block = text.slice(0, end);
            text = text.slice(end + 2);
            if (block.startsWith('event: inbox')) return JSON.parse(block.split('\ndata: ')[1]!);
            continue;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          text += value;
        }
      };
      const initial = await nextEvent();
      const [id] = await sendOk(t, { ...incidentExample(), to: 'live@example.com' });
      await waitForStatus(t, [id!], ['captured']);
      const changed = await nextEvent();
      expect(changed.total).toBe(initial.total + 1);
      expect(changed.newest).not.toBe(initial.newest);
      abort.abort();
    });

    it('ends a live stream once its key is revoked', async () => {
      const { token, key } = await t.services.apiKeys.create('inbox watcher', 'admin', 'test');
      const res = await fetch(`${base}/api/v1/dev/inbox/events`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      const revoked = await t.inject({ method: 'DELETE', url: `/api/v1/keys/${key.id}` });
      expect(revoked.statusCode, revoked.body).toBeLessThan(300);
      // The next poll (a second) finds the key revoked and ends the stream.
      for (;;) if ((await reader.read()).done) break;
    });
  });
});
