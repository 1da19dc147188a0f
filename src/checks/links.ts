import { MASK, SAFE_SCHEMES, schemeOf, startTagAttributes } from '../templates/index.js';

/** One link of a mail, and what an operator should know about it before it goes out. */
export interface LinkCheck {
  url: string;
  tag: string;
  attribute: string;
  /** The URL holds a sensitive value the archive masks: shown masked, never checked further. */
  masked: boolean;
  problems: Array<'unsafe_scheme' | 'not_https' | 'local_host' | 'empty' | 'unparsable'>;
}

const LOCAL = /^(localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[::1\]|[^.]+\.local|[^.]+\.localhost|[^.]+)$/i;

/**
 * Every link and image source of the HTML, with its problems: a scheme a client would run, plain
 * http, a host only this machine (or this network) knows, an empty link. Syntactic only: this
 * never makes a request, so an unreachable host is for the operator to judge from the list. A
 * URL with a masked value (the archive's or the inbox's mask) is reported as masked: its scheme
 * is still judged, its host only when the mask is not in it.
 */
export function checkLinks(html: string | null): LinkCheck[] {
  if (!html) return [];
  const out: LinkCheck[] = [];
  for (const { tag, name, value } of startTagAttributes(html)) {
    if (name !== 'href' && name !== 'src') continue;
    const url = value.trim();
    const masked = url.includes(MASK);
    const problems: LinkCheck['problems'] = [];
    const scheme = schemeOf(url);
    if (!url) problems.push('empty');
    else if (scheme !== null && !SAFE_SCHEMES.has(scheme)) problems.push('unsafe_scheme');
    else if (scheme === 'http' || scheme === 'https') {
      // A masked host cannot be judged (and must not be guessed at): only its scheme is.
      const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(url)?.[1] ?? '';
      if (authority.includes(MASK)) {
        if (scheme === 'http') problems.push('not_https');
      } else {
        try {
          const u = new URL(url);
          if (scheme === 'http') problems.push('not_https');
          if (LOCAL.test(u.hostname)) problems.push('local_host');
        } catch {
          problems.push('unparsable');
        }
      }
    }
    out.push({ url: url.slice(0, 2000), tag, attribute: name, masked, problems });
  }
  return out;
}
