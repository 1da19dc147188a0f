import { decodeReferences, scanAttributes } from '../platform/html-attributes.js';
import { createTrackingToken } from './token.js';

export interface InstrumentOptions {
  /** PUBLIC_URL, without a trailing slash. */
  base: string;
  key: Buffer;
  messageId: string;
  opens: boolean;
  clicks: boolean;
}

/** A link longer than this goes out untracked (its token would pass what the click route takes). */
export const MAX_TRACKED_URL = 4000;

const escapeAttribute = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

/**
 * The link a click token may carry: an absolute http(s) URL, normalised as a browser would
 * (`new URL().href`: host in punycode, the rest percent-encoded, so the redirect's Location is
 * plain ASCII). Null for anything else, which stays untracked.
 */
export function trackableUrl(raw: string, base: string): string | null {
  // As the URL parser reads an href: ASCII tabs and newlines anywhere, and C0 controls and
  // spaces at either end, are dropped; other spaces (a no-break space) stay part of the link.
  const v = decodeReferences(raw)
    .replace(/[\t\n\r]/g, '')
    .replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  if (!/^https?:\/\//i.test(v)) return null;
  let href: string;
  try {
    href = new URL(v).href;
  } catch {
    return null;
  }
  if (href.length > MAX_TRACKED_URL || href.startsWith(`${base}/u/`) || href.startsWith(`${base}/t/`)) return null;
  return href;
}

/**
 * The HTML as it goes out with tracking: the `href` of each `<a>` to an http(s) URL goes through
 * `/t/c/<token>` (its position and URL signed into the token), and a 1×1 image `/t/o/<token>`
 * comes before `</body>`. Attributes are read as the HTML tokenizer reads them (platform's
 * scanner, one linear pass): text inside another attribute's value is never taken for an href.
 * Left alone: other schemes, anchors, Postier's own unsubscribe links, over-long links, and any
 * `<a>` carrying `data-postier-notrack`. The archive keeps the HTML without any of this.
 */
export function instrumentHtml(html: string, o: InstrumentOptions): string {
  let out = html;
  if (o.clicks) {
    const edits: Array<{ start: number; end: number; text: string }> = [];
    let tagAt = -1;
    let href: { start: number; end: number } | null = null;
    let notrack = false;
    let index = 0;
    const flush = () => {
      if (!href || notrack) return;
      const url = trackableUrl(html.slice(href.start, href.end), o.base);
      if (!url) return;
      const token = createTrackingToken(o.key, 'c', { messageId: o.messageId, link: index++, url });
      const quoted = html[href.start - 1] === '"' || html[href.start - 1] === "'";
      const value = escapeAttribute(`${o.base}/t/c/${token}`);
      edits.push(quoted ? { ...href, text: value } : { ...href, text: `"${value}"` });
    };
    scanAttributes(html, (tag, ns, ne, vs, ve, lt) => {
      if (lt !== tagAt) {
        flush();
        tagAt = lt;
        href = null;
        notrack = false;
      }
      if (tag !== 'a') return;
      const name = html.slice(ns, ne).toLowerCase();
      // The first href counts, as in a browser.
      if (name === 'href' && href === null && ve > vs) href = { start: vs, end: ve };
      else if (name === 'data-postier-notrack') notrack = true;
    });
    flush();
    if (edits.length) {
      const parts: string[] = [];
      let at = 0;
      for (const e of edits) {
        parts.push(html.slice(at, e.start), e.text);
        at = e.end;
      }
      parts.push(html.slice(at));
      out = parts.join('');
    }
  }
  if (o.opens) {
    const token = createTrackingToken(o.key, 'o', { messageId: o.messageId });
    const pixel = `<img src="${escapeAttribute(`${o.base}/t/o/${token}`)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`;
    const end = lastBodyEnd(out);
    out = end >= 0 ? `${out.slice(0, end)}${pixel}${out.slice(end)}` : `${out}${pixel}`;
  }
  return out;
}

/** Where the last `</body>` starts (case-insensitive), -1 when there is none: one pass. */
function lastBodyEnd(html: string): number {
  const lower = html.toLowerCase();
  for (let i = lower.lastIndexOf('</body'); i >= 0; i = lower.lastIndexOf('</body', i - 1)) {
    const after = lower.charCodeAt(i + 6);
    if (after === 0x3e || after === 0x20 || after === 0x09 || after === 0x0a || after === 0x0d || after === 0x0c)
      return i;
    if (i === 0) break;
  }
  return -1;
}
