import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  PostierClient,
  PostierError,
  type Result,
  type SendResult,
  type Template,
} from '../packages/client/src/index.js';
import { ADMIN_TOKEN, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample } from './helpers/fixtures.js';
import { closedPortUrl, listen, silentServer } from './helpers/http.js';

/** A raw TCP server answering every request with `reply` (HTTP status line and headers), then nothing. */
async function stallingServer(reply: string): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => socket.write(reply));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('typed client with throwOnError: false (never-block mode)', () => {
  let t: TestContext;
  let url: string;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
    url = await listen(t);
  });
  afterAll(() => t.close());

  it('resolves every call to {ok: true, value} when Postier accepts', async () => {
    const client = new PostierClient({ baseUrl: url, token: ADMIN_TOKEN, throwOnError: false });
    const sent = await client.send(invoiceExample(), { idempotencyKey: 'never-block-1' });
    expectTypeOf(sent).toEqualTypeOf<Result<SendResult>>();
    expect(sent).toEqual({
      ok: true,
      value: { items: [{ id: expect.any(String), to: 'reseller@techconnect.bj', status: 'queued' }] },
    });
    if (!sent.ok) throw sent.error;
    const message = await client.getMessage(sent.value.items[0]!.id);
    expect(message.ok && message.value.template_key).toBe('billing_invoice_monthly');
    const page = await client.listMessages({ to: 'reseller@techconnect.bj' });
    expect(page.ok && page.value.items.map((m) => m.id)).toContain(sent.value.items[0]!.id);
    const tpl = await client.getTemplate('instance_provisioned');
    expectTypeOf(tpl).toEqualTypeOf<Result<Template>>();
    expect(tpl.ok && tpl.value.sensitive_variables).toEqual(['password']);
  });

  it('resolves API errors to {ok: false, error} with the same PostierError fields', async () => {
    const client = new PostierClient({ baseUrl: url, token: ADMIN_TOKEN, throwOnError: false });
    const r = await client.send({ to: 'a@b.bj', template_key: 'billing_invoice_monthly', variables: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(PostierError);
    expect(r.error).toMatchObject({
      status: 422,
      code: 'missing_variables',
      retryable: false,
      details: { missing: expect.arrayContaining(['amount_fcfa']) },
    });
    const refused = await new PostierClient({ baseUrl: url, token: 'pst_revoked', throwOnError: false }).send(
      invoiceExample(),
    );
    expect(refused).toMatchObject({ ok: false, error: { status: 401, code: 'unauthorized', retryable: false } });
  });

  it('resolves a stopped Postier to a retryable network_error instead of rejecting', async () => {
    const r = await new PostierClient({ baseUrl: await closedPortUrl(), token: 'x', throwOnError: false }).send(
      invoiceExample(),
    );
    expect(r).toMatchObject({ ok: false, error: { status: 0, code: 'network_error', retryable: true } });
  });

  it('resolves to a timeout within timeoutMs when Postier never answers, sends headers then stalls, or stalls mid-body', async () => {
    const servers = [
      await silentServer(),
      await stallingServer('HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n'),
      await stallingServer(
        'HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"items":[',
      ),
    ];
    try {
      for (const s of servers) {
        const started = Date.now();
        const r = await new PostierClient({ baseUrl: s.url, token: 'x', timeoutMs: 300, throwOnError: false }).send(
          invoiceExample(),
        );
        // Bounded, not measured: without the deadline this call would wait for ever.
        expect(Date.now() - started).toBeLessThan(5000);
        expect(r).toMatchObject({ ok: false, error: { status: 0, code: 'timeout', retryable: true } });
      }
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  it('withOptions switches the mode or timeout for some calls and keeps the rest', async () => {
    const down = await closedPortUrl();
    const throwing = new PostierClient({ baseUrl: down, token: 'x' });
    const quiet = throwing.withOptions({ throwOnError: false });
    expectTypeOf(quiet).toEqualTypeOf<PostierClient<false>>();
    expect(await quiet.getTemplate('x')).toMatchObject({ ok: false, error: { code: 'network_error' } });
    await expect(throwing.getTemplate('x')).rejects.toBeInstanceOf(PostierError);
    await expect(quiet.withOptions({ throwOnError: true }).getTemplate('x')).rejects.toMatchObject({
      code: 'network_error',
    });
    const stillQuiet = quiet.withOptions({ timeoutMs: 200 });
    expectTypeOf(stillQuiet).toEqualTypeOf<PostierClient<false>>();
    expect(await stillQuiet.getTemplate('x')).toMatchObject({ ok: false });

    const silent = await silentServer();
    try {
      const slow = new PostierClient({ baseUrl: silent.url, token: 'x', timeoutMs: 60_000, throwOnError: false });
      const r = await slow.withOptions({ timeoutMs: 200 }).getTemplate('x');
      expect(r).toMatchObject({ ok: false, error: { code: 'timeout' } });
    } finally {
      await silent.close();
    }
  });

  it('still rejects what is not a PostierError: a request the client cannot even encode is a bug', async () => {
    const client = new PostierClient({ baseUrl: url, token: ADMIN_TOKEN, throwOnError: false });
    await expect(client.send({ to: 'a@b.bj', template_key: 'x', variables: { n: 1n } })).rejects.toBeInstanceOf(
      TypeError,
    );
  });

  it('keeps the default mode: a client without the option rejects with PostierError', async () => {
    const client = new PostierClient({ baseUrl: url, token: 'nope' });
    expectTypeOf(client.getTemplate).returns.resolves.toEqualTypeOf<Template>();
    await expect(client.getTemplate('x')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
  });
});
