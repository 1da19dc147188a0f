import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachment, contentTypeOf, PostierClient, PostierError } from '../packages/client/src/index.js';
import { readAttachment } from '../src/app/cli/send.js';
import { ADMIN_TOKEN, backends, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample, pdfBytes } from './helpers/fixtures.js';
import { closedPortUrl, listen, silentServer } from './helpers/http.js';
import { builtMain } from './support/processes.js';

const run = promisify(execFile);

describe.each(backends)('typed client and `postier send` on %s', (backend) => {
  let t: TestContext;
  let url: string;
  let client: PostierClient;
  beforeAll(async () => {
    t = await createTestContext(backend);
    url = await listen(t);
    client = new PostierClient({ baseUrl: `${url}/`, token: ADMIN_TOKEN, timeoutMs: 5000 });
  });
  afterAll(() => t.close());

  it('sends, reads the message back, lists messages and templates', async () => {
    const { items } = await client.send(invoiceExample());
    expect(items).toEqual([{ id: expect.any(String), to: 'reseller@techconnect.bj', status: 'queued' }]);
    const m = await client.getMessage(items[0]!.id);
    expect(m.subject).toBe('Facture RGZ — février 2026');
    expect(m.attachments[0]!.size_bytes).toBe(pdfBytes().length);
    const page = await client.listMessages({ to: 'reseller@techconnect.bj', limit: 1 });
    expect(page.items[0]!.id).toBe(items[0]!.id);
    expect(page.total).toBeGreaterThanOrEqual(1);
    const templates = await client.listTemplates({ category: 'lifecycle' });
    expect(templates.items.map((x) => x.key).sort()).toEqual([
      'instance_provisioned',
      'instance_reactivated',
      'instance_suspended',
      'instance_terminated',
    ]);
    const tpl = await client.getTemplate('instance_provisioned');
    expect(tpl.sensitive_variables).toEqual(['password']);
  });

  it('attaches files built by attachment(): a PDF byte for byte, and an empty csv', async () => {
    const { items } = await client.send({
      ...invoiceExample(),
      attachments: [attachment('facture.pdf', pdfBytes()), attachment('incidents.csv', new Uint8Array(0))],
    });
    const m = await client.getMessage(items[0]!.id);
    expect(m.attachments.map((a) => [a.filename, a.content_type, a.size_bytes, a.sha256])).toEqual([
      ['facture.pdf', 'application/pdf', pdfBytes().length, createHash('sha256').update(pdfBytes()).digest('hex')],
      ['incidents.csv', 'text/csv', 0, createHash('sha256').update('').digest('hex')],
    ]);
  });

  it('sends raw mail and batches, and reports a batch message error in its place', async () => {
    const raw = await client.sendRaw({
      to: 'raw@techconnect.bj',
      subject: 'Raw from the client',
      html: '<p>Hi</p>',
      tags: ['client'],
      metadata: { ref: 'A-1' },
    });
    const m = await client.getMessage(raw.items[0]!.id);
    expect(m).toMatchObject({
      template_key: null,
      subject: 'Raw from the client',
      tags: ['client'],
      metadata: { ref: 'A-1' },
    });
    expect(m.text_content).toContain('Hi');

    const batch = await client.sendBatch([
      { to: 'b1@techconnect.bj', subject: 'One', text: 'one', idempotency_key: `client-batch-${backend}` },
      { to: 'b2@techconnect.bj', subject: 'Two', text: 'two', from: 'ceo@evil.example' },
      invoiceExample(),
    ]);
    expect(batch.items).toHaveLength(3);
    expect(batch.items[0]).toMatchObject({ index: 0, items: [{ to: 'b1@techconnect.bj', status: 'queued' }] });
    expect(batch.items[1]).toMatchObject({ index: 1, error: { code: 'from_not_allowed' } });
    expect(batch.items[2]).toMatchObject({ index: 2, items: [{ to: 'reseller@techconnect.bj', status: 'queued' }] });

    const envelope = await client.sendBatch([]).catch((e: unknown) => e);
    expect(envelope).toBeInstanceOf(PostierError);
    expect(envelope).toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('runs the content checks of a message: HTML support, links, and spam (409 without spamd)', async () => {
    const { items } = await client.sendRaw({
      to: 'checks@techconnect.bj',
      subject: 'Checks from the client',
      html: '<p>Hi <a href="http://techconnect.bj/offre">offer</a></p><svg width="1" height="1"></svg>',
    });
    const id = items[0]!.id;
    const html = await client.htmlCheck(id);
    expect(html.features.map((f) => f.slug)).toContain('html-svg');
    expect(html.score).not.toBeNull();
    const links = await client.linkCheck(id);
    expect(links.links).toEqual([
      expect.objectContaining({ url: 'http://techconnect.bj/offre', tag: 'a', problems: ['not_https'] }),
    ]);
    // No SPAMD_ADDRESS here: the check says it cannot run, as a typed error or a Result.
    expect(await client.spamCheck(id).catch((e: unknown) => e)).toMatchObject({
      status: 409,
      code: 'spam_check_unavailable',
    });
    const quiet = await client.withOptions({ throwOnError: false }).spamCheck(id);
    expect(quiet).toMatchObject({ ok: false, error: { code: 'spam_check_unavailable' } });
    expect(await client.linkCheck('not-a-uuid').catch((e: unknown) => e)).toMatchObject({
      status: 400,
      code: 'invalid_request',
    });
  });

  it('turns API errors into PostierError with status, code and details', async () => {
    const err = await client
      .send({ to: 'a@b.bj', template_key: 'billing_invoice_monthly', variables: {} })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PostierError);
    expect(err).toMatchObject({ status: 422, code: 'missing_variables', retryable: false });
    expect((err as PostierError).details).toMatchObject({ missing: expect.arrayContaining(['amount_fcfa']) });
    const unauth = await new PostierClient({ baseUrl: url, token: 'nope' }).getTemplate('x').catch((e: unknown) => e);
    expect(unauth).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await client.getMessage('01890000-0000-7000-8000-000000000000').catch((e: unknown) => e)).toMatchObject({
      status: 404,
      code: 'message_not_found',
    });
  });

  it('gives up after timeoutMs on a server that never answers, and reports a closed port as a network error', async () => {
    const silent = await silentServer();
    try {
      const started = Date.now();
      const err = await new PostierClient({ baseUrl: silent.url, token: 'x', timeoutMs: 200 })
        .send(invoiceExample())
        .catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(err).toMatchObject({ status: 0, code: 'timeout', retryable: true });
    } finally {
      await silent.close();
    }
    const down = await new PostierClient({ baseUrl: await closedPortUrl(), token: 'x' })
      .send(invoiceExample())
      .catch((e: unknown) => e);
    expect(down).toMatchObject({ status: 0, code: 'network_error' });
  });

  // The command is an HTTP client: what it meets is the API, the same on both databases (the API's
  // template sends, attachments and missing_variables are tested on each by send-api and the cases
  // above), so its two start-ups run once, side by side.
  it.runIf(backend === 'sqlite')(
    '`postier send` posts a template with variables and an attachment and prints the created ids',
    async () => {
      const file = path.join(t.dir, 'invoice_2026-02.pdf');
      writeFileSync(file, pdfBytes());
      const v = invoiceExample().variables;
      const args = [
        builtMain(),
        'send',
        '--url',
        url,
        '--template',
        'billing_invoice_monthly',
        '--to',
        'a@client.bj',
        '--to',
        'b@client.bj',
        '--attach',
        file,
      ];
      for (const [k, val] of Object.entries(v)) args.push('--var', `${k}=${val}`);
      const env = { ...process.env, POSTIER_TOKEN: ADMIN_TOKEN };
      const [{ stdout }, bad] = await Promise.all([
        run(process.execPath, args, { env }),
        run(
          process.execPath,
          [builtMain(), 'send', '--url', url, '--template', 'billing_invoice_monthly', '--to', 'a@client.bj'],
          { env },
        ).catch((e: { code: number; stderr: string }) => e),
      ]);
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      expect(lines.map((l) => l[1])).toEqual(['a@client.bj', 'b@client.bj']);
      const m = await client.getMessage(lines[0]![0]!);
      expect(m.attachments[0]).toMatchObject({ filename: 'invoice_2026-02.pdf', content_type: 'application/pdf' });
      expect(m.text_content).toContain('450000');
      expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('missing_variables (HTTP 422)') });
    },
    90_000, // two CLI start-ups on a busy machine
  );
});

describe('the client’s attachment()', () => {
  it('encodes as Node’s Buffer does, whatever the size, and from a view into a larger buffer', () => {
    for (const size of [0, 1, 2, 3, 0x7fff, 0x8000, 0x8001, 300_000]) {
      const bytes = randomBytes(size);
      expect(attachment('a.pdf', bytes).data_base64, String(size)).toBe(bytes.toString('base64'));
    }
    const whole = randomBytes(100);
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 10, 50);
    expect(attachment('a.txt', view).data_base64).toBe(whole.subarray(10, 60).toString('base64'));
  });

  it('names the type by the extension, any case, and lets the caller say otherwise', () => {
    expect(
      [
        'f.PDF',
        'a.b.png',
        'x.jpg',
        'x.jpeg',
        'x.gif',
        'd.json',
        'r.csv',
        'n.txt',
        'noext',
        'x.exe',
        'x.constructor',
      ].map(contentTypeOf),
    ).toEqual([
      'application/pdf',
      'image/png',
      'image/jpeg',
      'image/jpeg',
      'image/gif',
      'application/json',
      'text/csv',
      'text/plain',
      'application/octet-stream',
      'application/octet-stream',
      'application/octet-stream',
    ]);
    expect(attachment('report.csv', new Uint8Array([65]), 'text/plain')).toEqual({
      filename: 'report.csv',
      content_type: 'text/plain',
      data_base64: 'QQ==',
    });
  });
});

describe('postier send --attach', () => {
  it('reads a file as attachment() builds it, and refuses an extension Postier has no type for', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-attach-'));
    try {
      const pdf = path.join(dir, 'Facture.PDF');
      writeFileSync(pdf, pdfBytes());
      expect(readAttachment(pdf)).toEqual(attachment('Facture.PDF', pdfBytes()));
      expect(readAttachment(pdf).content_type).toBe('application/pdf');
      for (const name of ['setup.exe', 'README', 'toString.']) {
        writeFileSync(path.join(dir, name), 'x');
        expect(() => readAttachment(path.join(dir, name)), name).toThrow(/unknown extension .* \(known: pdf, png, jpg/);
      }
      // An own property of the table, not one every object inherits.
      writeFileSync(path.join(dir, 'a.constructor'), 'x');
      expect(() => readAttachment(path.join(dir, 'a.constructor'))).toThrow(/unknown extension \.constructor/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
