import MimeNode from 'nodemailer/lib/mime-node';

type Normalize = (this: MimeNode, key: unknown) => string;
const proto = MimeNode.prototype as unknown as { _normalizeHeaderKey?: Normalize };

/** Header names remembered at most: ours are a dozen; a caller's custom ones add a few. */
const MAX_KEYS = 1000;

/**
 * Nodemailer normalizes a header name ("content-type" → "Content-Type") each time a header is
 * set or looked up: a string copy and three regular expressions, about twenty times per
 * message, which was 7% of the delivery thread's time. The result depends on the name alone,
 * so it is remembered per name. Installed once, when the delivery code is
 * loaded; test/header-key-memo.test.ts holds the remembered names to Nodemailer's own function.
 */
export const normalizeHeaderKey: Normalize | undefined = proto._normalizeHeaderKey;

if (normalizeHeaderKey) {
  const known = new Map<string, string>();
  proto._normalizeHeaderKey = function (key) {
    if (typeof key !== 'string') return normalizeHeaderKey.call(this, key);
    let normalized = known.get(key);
    if (normalized === undefined) {
      normalized = normalizeHeaderKey.call(this, key);
      if (known.size < MAX_KEYS) known.set(key, normalized);
    }
    return normalized;
  };
}
