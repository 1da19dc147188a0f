import { createTrackingToken } from './token.js';

export interface InstrumentOptions {
  /** PUBLIC_URL, without a trailing slash. */
  base: string;
  key: Buffer;
  messageId: string;
  opens: boolean;
  clicks: boolean;
}

const ANCHOR = /<a\b[^>]*>/gi;
const HREF = /(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;

/** The entities an href may hold (juice and Liquid's escape write &amp; and numeric ones). */
function decodeEntities(v: string): string {
  return v.replace(/&(#x[0-9a-f]+|#\d+|amp|quot|apos|lt|gt);/gi, (all, e: string) => {
    const lower = e.toLowerCase();
    if (lower === 'amp') return '&';
    if (lower === 'quot') return '"';
    if (lower === 'apos') return "'";
    if (lower === 'lt') return '<';
    if (lower === 'gt') return '>';
    const code = lower.startsWith('#x') ? Number.parseInt(lower.slice(2), 16) : Number.parseInt(lower.slice(1), 10);
    return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
  });
}

/**
 * The HTML as it goes out with tracking: each http(s) link of an `<a>` goes through
 * `/t/c/<token>` (its position and URL signed into the token), and a 1×1 image `/t/o/<token>`
 * comes before `</body>`. Left alone: other schemes (mailto:, tel:), anchors, Postier's own
 * unsubscribe links, and any `<a>` carrying `data-postier-notrack`. The archive keeps the HTML
 * without any of this.
 */
export function instrumentHtml(html: string, o: InstrumentOptions): string {
  let out = html;
  if (o.clicks) {
    let index = 0;
    out = out.replace(ANCHOR, (tag) => {
      if (/\sdata-postier-notrack\b/i.test(tag)) return tag;
      const m = HREF.exec(tag);
      if (!m) return tag;
      const url = decodeEntities((m[2] ?? m[3] ?? m[4] ?? '').trim());
      if (!/^https?:\/\//i.test(url) || url.startsWith(`${o.base}/u/`) || url.startsWith(`${o.base}/t/`)) return tag;
      const token = createTrackingToken(o.key, 'c', { messageId: o.messageId, link: index++, url });
      return tag.replace(HREF, (_all, prefix: string) => `${prefix}"${o.base}/t/c/${token}"`);
    });
  }
  if (o.opens) {
    const token = createTrackingToken(o.key, 'o', { messageId: o.messageId });
    const pixel = `<img src="${o.base}/t/o/${token}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`;
    const end = out.search(/<\/body\s*>(?![\s\S]*<\/body\s*>)/i);
    out = end >= 0 ? `${out.slice(0, end)}${pixel}${out.slice(end)}` : `${out}${pixel}`;
  }
  return out;
}
