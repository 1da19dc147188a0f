import { createHash } from 'node:crypto';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerErrorHandler } from '../src/http/errors.js';
import { registerJsonBodies } from '../src/http/json-body.js';
import { decodedBase64, LARGE_BODY_BYTES, LONG_STRING_BYTES } from '../src/platform/http/large-json.js';
import { detail, sendOk } from './helpers/archive.js';
import { bigPdf, invoiceWith, sha256, stored } from './helpers/content.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { pngBytes } from './helpers/fixtures.js';

const hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const SYMBOLS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Canonical padded base64 with an unused bit of its last character set: decodes the same, is not canonical. */
function withStrayBits(s: string): string {
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (pad === 0) throw new Error('needs padding');
  const at = s.length - 1 - pad;
  return s.slice(0, at) + SYMBOLS[SYMBOLS.indexOf(s[at]!) | 1] + s.slice(at + 1);
}

/** A JSON value with long strings replaced by their digests (responses stay small): `d` decoded bytes, `s` a string, `#` a long key. */
function digest(v: unknown, markers: (s: string) => Buffer | undefined): unknown {
  if (Array.isArray(v)) return v.map((x) => digest(x, markers));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k.length > 1000 ? `#${hex(k)}` : k, digest(x, markers)]),
    );
  }
  if (typeof v !== 'string') return v;
  const bytes = markers(v);
  if (bytes) return { d: hex(bytes) };
  return v.length > 1000 ? { s: hex(v) } : v;
}

/** What the parse must give: JSON.parse, with the eligible strings at files.*.b64 decoded. */
function expected(body: string): unknown {
  const value = JSON.parse(body) as { files?: Array<{ b64?: unknown }> };
  const canonical = (s: string) =>
    s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s) && Buffer.from(s, 'base64').toString('base64') === s;
  const decodes = new Map<string, Buffer>();
  for (const f of value.files ?? []) {
    if (typeof f.b64 === 'string' && f.b64.length >= LONG_STRING_BYTES && canonical(f.b64)) {
      const marker = `\u0001${decodes.size}`;
      decodes.set(marker, Buffer.from(f.b64, 'base64'));
      f.b64 = marker;
    }
  }
  return digest(value, (s) => decodes.get(s));
}

describe('large JSON bodies: long base64 strings decoded in place', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify({ bodyLimit: 8 * 1024 * 1024, onProtoPoisoning: 'error', onConstructorPoisoning: 'error' });
    registerJsonBodies(app);
    registerErrorHandler(app);
    const echo = async (request: import('fastify').FastifyRequest) => ({
      value: digest(request.body, (s) => decodedBase64(request, s)?.bytes),
    });
    app.post('/decoding', { config: { decodedBase64: ['files.*.b64'] } }, echo);
    app.post('/plain', echo);
    app.post('/first', { config: { decodedBase64: ['files.*.b64'] } }, async (request) => {
      const b64 = (request.body as { files: Array<{ b64: string }> }).files[0]!.b64;
      return { decoded: decodedBase64(request, b64)?.bytes.length ?? null };
    });
    await app.ready();
  });
  afterAll(() => app.close());

  const bytes = (n: number, seed: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0, x = seed | 1; i < n; i++) b[i] = (x = (x * 1103515245 + 12345) | 0) >>> 24;
    return b;
  };
  /** Long base64-ish texts: canonical, or each way of not being canonical (line breaks, stray bits, a space, a bad character). */
  const kinds = fc.constantFrom('canonical', 'canonical', 'lines', 'stray', 'space', 'bad');
  const longText = fc
    .record({ n: fc.integer({ min: 40_000, max: 200_000 }), seed: fc.integer(), kind: kinds })
    .map(({ n, seed, kind }) => {
      const s = bytes(kind === 'stray' ? n - (n % 3) + 2 : n, seed).toString('base64');
      const mid = s.length >> 1;
      if (kind === 'lines') return s.replace(/.{76}/g, '$&\n');
      if (kind === 'stray') return withStrayBits(s);
      if (kind === 'space') return `${s.slice(0, mid)} ${s.slice(mid)}`;
      if (kind === 'bad') return `${s.slice(0, mid)}*${s.slice(mid + 1)}`;
      return s;
    });
  const doc = fc.record({
    files: fc.array(
      fc.record({
        name: fc.string({ maxLength: 20 }),
        b64: fc.oneof(longText, fc.string({ maxLength: 30 }), fc.integer()),
      }),
      { maxLength: 4 },
    ),
    elsewhere: fc.array(longText, { maxLength: 2 }),
    other: fc.jsonValue({ maxDepth: 3 }),
    longKey: fc.boolean(),
  });

  it('gives exactly JSON.parse, except canonical long base64 at the declared paths, which arrives decoded', async () => {
    await fc.assert(
      fc.asyncProperty(doc, fc.boolean(), async (d, spaced) => {
        const value: Record<string, unknown> = {
          files: d.files,
          elsewhere: d.elsewhere,
          other: d.other,
          pad: bytes(LARGE_BODY_BYTES, 7).toString('base64'),
        };
        if (d.longKey) value[bytes(60_000, 3).toString('base64')] = 1;
        const body = JSON.stringify(value, null, spaced ? 2 : undefined);
        // Fastify refuses these keys (prototype poisoning), with or without long strings: tested below.
        fc.pre(!/"(__proto__|constructor)"/.test(body));
        const res = await app.inject({
          method: 'POST',
          url: '/decoding',
          headers: { 'content-type': 'application/json' },
          payload: body,
        });
        if (body.includes('\\u0000')) {
          expect(res.statusCode).toBe(400);
          return;
        }
        expect(res.statusCode).toBe(200);
        expect(res.json().value).toEqual(expected(body));
        // A route that declares no path gets JSON.parse, untouched.
        const plain = await app.inject({
          method: 'POST',
          url: '/plain',
          headers: { 'content-type': 'application/json' },
          payload: body,
        });
        expect(plain.json().value).toEqual(digest(JSON.parse(body), () => undefined));
      }),
      { numRuns: 25 },
    );
  });

  it('walks a large body nested hundreds of thousands deep in linear time, and refuses it for its depth', async () => {
    const b64 = bytes(100_000, 5).toString('base64');
    const deep = `${'['.repeat(400_000)}"${b64}"${']'.repeat(400_000)}`;
    const body = `{"files":[{"b64":"${b64}"}],"deep":${deep},"pad":"${bytes(LARGE_BODY_BYTES, 6).toString('base64')}"}`;
    const res = await app.inject({
      method: 'POST',
      url: '/first',
      headers: { 'content-type': 'application/json' },
      payload: body,
    });
    // Parsed without overflowing the stack, then refused as every body nested past 64 levels is.
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_json');
  });

  it('refuses what JSON.parse refuses, NUL characters and prototype poisoning, as for any body', async () => {
    const b64 = bytes(LARGE_BODY_BYTES, 9).toString('base64');
    const post = (payload: string) =>
      app.inject({ method: 'POST', url: '/decoding', headers: { 'content-type': 'application/json' }, payload });
    const truncated = await post(`{"files":[{"b64":"${b64}"}]`);
    expect(truncated.statusCode).toBe(400);
    expect(truncated.json().error.code).toBe('invalid_json');
    const control = await post(`{"files":[{"b64":"${b64}"}],"x":"a\tb"}`);
    expect(control.json().error.code).toBe('invalid_json');
    const nul = await post(`{"files":[{"b64":"${b64}"}],"x":"\\u0000"}`);
    expect(nul.statusCode).toBe(400);
    expect(nul.json().error.code).toBe('invalid_request');
    const proto = await post(`{"files":[{"b64":"${b64}"}],"__proto__":{"x":1}}`);
    expect(proto.statusCode).toBe(400);
    const tooLarge = await post(`{"files":[{"b64":"${bytes(7 * 1024 * 1024, 1).toString('base64')}"}]}`);
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error.code).toBe('payload_too_large');
    const empty = await post('');
    expect(empty.json().error.code).toBe('invalid_json');
  });
});

describe.each(backends)('large attachments through POST /send on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const send = (payload: object, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload, headers });

  it('stores the same bytes whether the base64 arrives canonical, with line breaks or with stray bits', async () => {
    const pdf = bigPdf(1.5 * 1024 * 1024 + 1, 30);
    const canonical = pdf.toString('base64');
    const lines = canonical.replace(/.{76}/g, '$&\n');
    const stray = withStrayBits(canonical);
    expect(stray).not.toBe(canonical);
    expect(Buffer.compare(Buffer.from(stray, 'base64'), pdf)).toBe(0);
    for (const [i, text] of [canonical, lines, stray].entries()) {
      const payload = invoiceWith(`form${i}@example.com`, pdf);
      payload.attachments[0]!.data_base64 = text;
      const [id] = await sendOk(t, payload);
      const m = await detail(t, id!);
      expect(m.attachments[0].sha256).toBe(sha256(pdf));
    }
    expect(await stored(t, sha256(pdf))).toMatchObject({ blobs: 1, bytes: pdf.length, references: 3 });
  });

  it('refuses a large attachment that is not base64 or not what it claims, with the usual 422', async () => {
    const pdf = bigPdf(1.5 * 1024 * 1024, 31);
    const bad = invoiceWith('bad@example.com', pdf);
    bad.attachments[0]!.data_base64 = `${pdf.toString('base64').slice(0, 1000)}*${pdf.toString('base64').slice(1001)}`;
    const r1 = await send(bad);
    expect(r1.statusCode).toBe(422);
    expect(r1.json().error).toMatchObject({
      code: 'invalid_attachment',
      message: 'attachments[0]: data_base64 is not valid base64',
    });
    const png = invoiceWith('png@example.com', Buffer.concat([pngBytes(), bigPdf(1.5 * 1024 * 1024, 32)]));
    const r2 = await send(png);
    expect(r2.statusCode).toBe(422);
    expect(r2.json().error.details).toMatchObject({ declared: 'application/pdf', detected: 'image/png' });
    const big = invoiceWith('huge@example.com', bigPdf(11 * 1024 * 1024, 33));
    const r3 = await send(big);
    expect(r3.statusCode).toBe(422);
    expect(r3.json().error.details).toMatchObject({ max_bytes: 10 * 1024 * 1024 });
  });

  it('an Idempotency-Key tells two large attachments apart: the same one replays, another one conflicts', async () => {
    const a = bigPdf(1.5 * 1024 * 1024, 34);
    const b = bigPdf(1.5 * 1024 * 1024, 35);
    const first = await send(invoiceWith('idem@example.com', a), { 'idempotency-key': 'large-1' });
    expect(first.statusCode).toBe(201);
    const again = await send(invoiceWith('idem@example.com', a), { 'idempotency-key': 'large-1' });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await send(invoiceWith('idem@example.com', b), { 'idempotency-key': 'large-1' });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('idempotency_conflict');
  });
});
