/**
 * A bounded MIME walker for reports. It reads only what classification needs (header blocks, the
 * first parts, the first bytes of text parts) and never more than the limits, whatever the input:
 * a 50 MB report, 10,000 parts or binary garbage take the same bounded time. It does not descend
 * into message/rfc822 parts: a forwarded bounce stays a forward.
 */
import { decodeCharset, decodeHeaderValue, decodeTransfer, htmlToText } from './mime-decode.js';

export type Headers = Map<string, string[]>;

export interface Part {
  headers: Headers;
  /** Lowercased type/subtype. */
  type: string;
  params: Record<string, string>;
  /** Raw (still transfer-encoded) body, as a latin1 string. */
  body: string;
}

export interface Walked {
  root: Part;
  /** Leaf parts in document order (multiparts flattened; message/rfc822 parts kept whole). */
  leaves: Part[];
  truncated: boolean;
}

export interface Limits {
  maxBytes: number;
  maxParts: number;
  maxTextBytes: number;
}

const MAX_HEADER_LINES = 500;
const MAX_HEADER_VALUE = 16 * 1024;
const MAX_DEPTH = 6;

/** Index of the blank line ending a header block, and where the body starts. */
function splitHead(raw: string): { head: string; body: string } {
  // A part that starts with a blank line has no headers.
  const blank = /^\r?\n/.exec(raw);
  if (blank) return { head: '', body: raw.slice(blank[0].length) };
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return { head: raw, body: '' };
  return { head: raw.slice(0, m.index), body: raw.slice(m.index + m[0].length) };
}

/** Unfolds and collects header fields; names lowercased, values raw (decode with headerValue). */
export function parseHeaderBlock(head: string): Headers {
  const headers: Headers = new Map();
  const lines = head.split(/\r?\n/, MAX_HEADER_LINES);
  let name: string | null = null;
  let value = '';
  const flush = () => {
    if (name === null) return;
    const list = headers.get(name);
    const v = value.length > MAX_HEADER_VALUE ? value.slice(0, MAX_HEADER_VALUE) : value;
    if (list) list.push(v);
    else headers.set(name, [v]);
    name = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if ((line.startsWith(' ') || line.startsWith('\t')) && name !== null) {
      if (value.length < MAX_HEADER_VALUE) value += line;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0 || colon > 76) continue; // mbox "From " lines and junk
    const n = line.slice(0, colon).trim();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(n)) continue;
    name = n.toLowerCase();
    value = line.slice(colon + 1);
  }
  flush();
  return headers;
}

/** The first value of a header, decoded (RFC 2047, 8-bit UTF-8), or null. */
export function headerValue(h: Headers, name: string): string | null {
  const v = h.get(name)?.[0];
  return v === undefined ? null : decodeHeaderValue(v);
}

export function headerValues(h: Headers, name: string): string[] {
  return (h.get(name) ?? []).map(decodeHeaderValue);
}

/** Content-Type-like value: lowercased main value and parameters (quoted strings, RFC 2231 continuations). */
export function parseParams(value: string | null): { value: string; params: Record<string, string> } {
  const params: Record<string, string> = {};
  if (!value) return { value: '', params };
  const tokens: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && quoted && i + 1 < value.length) {
      cur += value[++i];
      continue;
    }
    if (c === ';' && !quoted) {
      tokens.push(cur);
      cur = '';
    } else if (c !== '"') cur += c;
  }
  tokens.push(cur);
  const continued: Record<string, string[]> = {};
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq <= 0) continue;
    const key = t.slice(0, eq).trim().toLowerCase();
    const v = t.slice(eq + 1).trim();
    const cont = /^(.+?)\*(\d+)\*?$/.exec(key);
    if (cont) (continued[cont[1]!] ??= [])[Number(cont[2])] = v;
    else params[key.replace(/\*$/, '')] = key.endsWith('*') ? v.replace(/^[^']*'[^']*'/, '') : v;
  }
  for (const [k, vs] of Object.entries(continued)) if (!(k in params)) params[k] = vs.join('');
  return { value: tokens[0]!.trim().toLowerCase(), params };
}

function makePart(raw: string, defaultType: string): Part {
  const { head, body } = splitHead(raw);
  const headers = parseHeaderBlock(head);
  const ct = parseParams(headerValue(headers, 'content-type'));
  const type = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(ct.value) ? ct.value : defaultType;
  return { headers, type, params: ct.params, body };
}

/** The bodies between boundary delimiters; a missing close delimiter (a truncated report) ends at the end. */
function splitMultipart(body: string, boundary: string, room: number): { parts: string[]; cut: boolean } {
  const delim = `--${boundary}`;
  const parts: string[] = [];
  let pos = 0;
  let start = -1;
  while (parts.length < room) {
    const at = body.indexOf(delim, pos);
    if (at < 0) break;
    const lineStart = at === 0 || body[at - 1] === '\n';
    pos = at + delim.length;
    if (!lineStart) continue;
    const close = body.startsWith('--', pos);
    const eol = body.indexOf('\n', pos);
    // Delimiter lines may carry trailing whitespace, nothing else.
    if (!close && eol >= 0 && body.slice(pos, eol).trim() !== '') continue;
    if (start >= 0) parts.push(body.slice(start, at > 0 && body[at - 2] === '\r' ? at - 2 : at - 1));
    if (close) return { parts, cut: false };
    start = eol < 0 ? body.length : eol + 1;
  }
  if (start >= 0 && parts.length < room) parts.push(body.slice(start));
  return { parts, cut: parts.length >= room };
}

/** Walks a message within the limits. Never throws on malformed input: what cannot be read is skipped. */
export function walk(input: Buffer | string, limits: Limits): Walked {
  const whole =
    typeof input === 'string' ? input : input.toString('latin1', 0, Math.min(input.length, limits.maxBytes));
  const cut = whole.length > limits.maxBytes ? whole.slice(0, limits.maxBytes) : whole;
  // Classic Mac OS line ends (bare CR): rare, but some archives still hold them.
  const head = cut.slice(0, 64 * 1024);
  const raw = !head.includes('\n') && head.includes('\r') ? cut.replace(/\r/g, '\n') : cut;
  let truncated = (typeof input === 'string' ? input.length : input.length) > limits.maxBytes;
  const root = makePart(raw.replace(/^\s*From [^\n]*\n/, ''), 'text/plain');
  const leaves: Part[] = [];
  let count = 1;
  const visit = (p: Part, depth: number) => {
    const boundary = p.params.boundary;
    if (!p.type.startsWith('multipart/') || !boundary || depth >= MAX_DEPTH) {
      leaves.push(p);
      return;
    }
    let split = splitMultipart(p.body, boundary, limits.maxParts - count);
    if (split.parts.length === 0) {
      // A boundary that the body never uses (a broken gateway): try the first delimiter-looking line.
      const seen = /^--([^\s-][^\r\n]{0,69}?)[ \t]*\r?$/m.exec(p.body.slice(0, 64 * 1024))?.[1];
      if (seen && seen !== boundary) split = splitMultipart(p.body, seen.replace(/--$/, ''), limits.maxParts - count);
    }
    if (split.parts.length === 0) {
      leaves.push({ ...p, type: 'text/plain', params: {} });
      return;
    }
    const { parts, cut } = split;
    if (cut) truncated = true;
    const childDefault = p.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    for (const body of parts) {
      if (count >= limits.maxParts) {
        truncated = true;
        return;
      }
      count++;
      visit(makePart(body, childDefault), depth + 1);
    }
  };
  visit(root, 0);
  return { root, leaves, truncated };
}

/** A text part's content as Unicode (transfer encoding and charset undone, HTML stripped), capped. */
export function partText(p: Part, maxBytes: number): string {
  const bytes = decodeTransfer(p.body, headerValue(p.headers, 'content-transfer-encoding') ?? undefined, maxBytes);
  const text = decodeCharset(bytes, p.params.charset);
  return p.type === 'text/html' ? htmlToText(text) : text;
}

/** The header block of an embedded message (message/rfc822, text/rfc822-headers, message/global-headers). */
export function embeddedHeaders(p: Part, maxBytes: number): Headers {
  const bytes = decodeTransfer(p.body, headerValue(p.headers, 'content-transfer-encoding') ?? undefined, maxBytes);
  return parseHeaderBlock(splitHead(bytes.replace(/^\s+/, '')).head);
}
