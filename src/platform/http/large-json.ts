import type { Readable } from 'node:stream';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { errorCodes, type FastifyRequest } from 'fastify';
import { type DecodedBase64, decodeBase64InPlace, isCanonicalBase64 } from '../base64.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Body paths (`attachments.*.data_base64`, `*` for any index or key) where this route takes a
     * long base64 string as its decoded bytes: the parsed body holds a marker string there, and
     * `decodedBase64(request, marker)` gives the bytes. See parseBody.
     */
    decodedBase64?: string[];
  }
}

/** Bodies from this size up take the long-string path, in memory the blob writer thread can share. */
export const LARGE_BODY_BYTES = 1024 * 1024;
/** JSON strings from this many bytes up are candidates for decoding in place. */
export const LONG_STRING_BYTES = 64 * 1024;

const decodedByRequest = new WeakMap<FastifyRequest, Map<string, DecodedBase64>>();

/** The bytes behind a marker that parseBody left at one of the route's `decodedBase64` paths. */
export function decodedBase64(request: FastifyRequest, value: string): DecodedBase64 | undefined {
  return value.startsWith('\u0000') ? decodedByRequest.get(request)?.get(value) : undefined;
}

const allocate = (n: number): Buffer =>
  n >= LARGE_BODY_BYTES ? Buffer.from(new SharedArrayBuffer(n)) : Buffer.allocUnsafe(n);

/**
 * The whole body in one buffer, with Fastify's limits and errors (413 past the route's body
 * limit, 400 when the length differs from Content-Length); reading stops at the limit. With a
 * Content-Length the buffer is allocated once and each chunk copied in as it arrives: Fastify's
 * own reader keeps every chunk until the end and then concatenates them, twice the body in
 * memory. `opts`: a limit below the route's (one route serving senders of different sizes) and
 * the error past it.
 */
export async function readBody(
  request: FastifyRequest,
  payload: Readable,
  opts: { limit?: number; tooLarge?: () => Error } = {},
): Promise<Buffer> {
  const limit = opts.limit ?? request.routeOptions.bodyLimit ?? Number.POSITIVE_INFINITY;
  const tooLarge = opts.tooLarge ?? (() => new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
  const header = request.headers['content-length'];
  const declared = header === undefined ? Number.NaN : Number(header);
  if (declared > limit) throw tooLarge();
  let body: Buffer | null = Number.isSafeInteger(declared) && declared >= 0 ? allocate(declared) : null;
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const c of payload) {
      const chunk = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
      if (received + chunk.length > limit) throw tooLarge();
      if (body && received + chunk.length <= body.length) {
        chunk.copy(body, received);
      } else {
        if (body) chunks.push(body.subarray(0, received));
        body = null;
        chunks.push(chunk);
      }
      received += chunk.length;
    }
  } catch (error) {
    const e = error as { statusCode?: number };
    if (typeof e === 'object' && e !== null && !(typeof e.statusCode === 'number' && e.statusCode >= 400))
      e.statusCode = 400;
    throw error;
  }
  if (Number.isSafeInteger(declared) && received !== declared)
    throw new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH();
  if (body) return body;
  const all = allocate(received);
  let at = 0;
  for (const c of chunks) at += c.copy(all, at);
  return all;
}

/**
 * Parses a JSON body. On a route with `decodedBase64` paths, a large body's long strings that are
 * canonical base64 are cut out before parsing and, at those paths, decoded in place: a 10 MB
 * attachment then costs its 13.3 MB of body once, instead of the body as a string, the string
 * value JSON.parse makes of it and the decoded bytes (over 40 MB). Everything else is exactly
 * JSON.parse: the rest of the body is parsed by `parse`, and a cut-out string found anywhere
 * but at those paths is put back as the same string. `parse` must refuse what Fastify's parser
 * refuses; NUL characters cannot be in a body taken this way (it would not be).
 */
export async function parseBody(
  request: FastifyRequest,
  raw: Buffer,
  parse: (text: string) => Promise<unknown>,
): Promise<{ value: unknown } | null> {
  const paths = request.routeOptions.config?.decodedBase64?.map((p) => p.split('.'));
  // The markers below are strings that start with NUL, which only the escape \u0000 can write.
  if (!paths?.length || raw.length < LARGE_BODY_BYTES || raw.includes('\\u0000')) return null;
  const tokens: Array<{ start: number; end: number }> = [];
  for (const t of await longStrings(raw, LONG_STRING_BYTES))
    if (await isCanonicalBase64(raw, t.start, t.end)) tokens.push(t);
  if (tokens.length === 0) return null;

  const parts: Buffer[] = [];
  let from = 0;
  tokens.forEach((t, i) => {
    parts.push(raw.subarray(from, t.start), Buffer.from(`\\u0000${i}`));
    from = t.end;
  });
  parts.push(raw.subarray(from));
  const value = await parse(Buffer.concat(parts).toString('utf8'));

  const decoded = new Map<string, DecodedBase64>();
  // Iterative, and paths only as deep as the declared ones: bodies may be nested tens of thousands deep.
  const depth = Math.max(...paths.map((p) => p.length));
  const stack: Array<{ node: object; path: string[] | null }> =
    typeof value === 'object' && value !== null ? [{ node: value, path: [] }] : [];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const child = record[key];
      const at = path && path.length < depth ? [...path, key] : null;
      if (typeof child !== 'string') {
        if (typeof child === 'object' && child !== null) stack.push({ node: child, path: at });
        continue;
      }
      if (!child.startsWith('\u0000')) continue;
      const t = tokens[Number(child.slice(1))]!;
      if (at && paths.some((p) => p.length === at.length && p.every((seg, i) => seg === '*' || seg === at[i]))) {
        const d = await decodeBase64InPlace(raw, t.start, t.end);
        // The content's hash in the marker: the body still tells one content from another (idempotency keys compare bodies).
        const marker = `\u0000base64:${d.sha256}:${d.length}`;
        decoded.set(marker, d);
        record[key] = marker;
      } else {
        record[key] = raw.toString('latin1', t.start, t.end);
      }
    }
  }
  decodedByRequest.set(request, decoded);
  return { value };
}

/**
 * The JSON strings of at least `min` bytes with no escape sequence, that are values (not keys):
 * [start, end) between the quotes. Native searches (indexOf) do the scanning; each position is
 * passed once, and the loop yields now and then (a body of millions of short strings or escapes).
 * A malformed body yields what it yields: the parse that follows refuses it.
 */
async function longStrings(raw: Buffer, min: number): Promise<Array<{ start: number; end: number }>> {
  const found: Array<{ start: number; end: number }> = [];
  let quote = -1;
  let backslash = -1;
  let at = 0;
  for (let steps = 0; ; ) {
    if (quote < at) quote = raw.indexOf(0x22, at);
    if (quote < 0) return found;
    const start = quote + 1;
    let p = start;
    let escaped = false;
    let end = -1;
    for (;;) {
      if (quote < p) quote = raw.indexOf(0x22, p);
      if (quote < 0) return found;
      if (backslash !== -2 && backslash < p) {
        backslash = raw.indexOf(0x5c, p);
        // No backslash after p: none after any later position either.
        if (backslash < 0) backslash = -2;
      }
      if (++steps % 65_536 === 0) await yieldTurn();
      if (backslash >= 0 && backslash < quote) {
        escaped = true;
        p = backslash + 2;
        continue;
      }
      end = quote;
      break;
    }
    at = end + 1;
    if (escaped || end - start < min) continue;
    let next = at;
    while (next < raw.length && (raw[next] === 0x20 || raw[next] === 0x0a || raw[next] === 0x0d || raw[next] === 0x09))
      next++;
    if (raw[next] !== 0x3a) found.push({ start, end });
  }
}
