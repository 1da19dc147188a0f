import { jsonFault, MAX_JSON_DEPTH } from '../../platform/json-check.js';
import { fieldValue, type RawField } from '../../platform/mime-fields.js';
import { SmtpReply } from './replies.js';

/** What a client says in X-Postier-* fields (all removed before delivery). */
export interface SubmissionOptions {
  category?: string;
  tags?: string[];
  metadata?: Record<string, string | number | boolean | null>;
  idempotencyKey?: string;
  sendAt?: string;
  template?: string;
  variables?: Record<string, unknown>;
}

const refuse = (field: string, text: string) =>
  new SmtpReply(554, '5.6.0', 'invalid_header_value', `${field}: ${text}`);

const KNOWN = new Set([
  'x-postier-category',
  'x-postier-tags',
  'x-postier-metadata',
  'x-postier-idempotency-key',
  'x-postier-send-at',
  'x-postier-template',
  'x-postier-variables',
]);

const CATEGORY = /^[a-z0-9][a-z0-9_.-]{0,49}$/i;
const TAG = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const MAX_TAGS = 20;
const MAX_METADATA_BYTES = 2048;
const MAX_VARIABLES_BYTES = 64 * 1024;

function jsonObject(field: string, value: string, maxBytes: number): Record<string, unknown> {
  if (Buffer.byteLength(value) > maxBytes) throw refuse(field, `at most ${maxBytes} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw refuse(field, 'not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw refuse(field, 'expected a JSON object');
  const fault = jsonFault(parsed, { nul: true, unicode: true });
  if (fault === 'depth') throw refuse(field, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (fault) throw refuse(field, fault === 'nul' ? 'a NUL character (\\u0000) in it' : 'an unpaired surrogate in it');
  return parsed as Record<string, unknown>;
}

/** Reads and checks the X-Postier-* fields; an unknown one is refused (a typo would otherwise be delivered silently… or dropped). */
export function readOptions(fields: RawField[]): SubmissionOptions {
  const out: SubmissionOptions = {};
  for (const f of fields) {
    if (!f.key.startsWith('x-postier-')) continue;
    if (!KNOWN.has(f.key)) throw refuse(f.name, `unknown field (known: ${[...KNOWN].join(', ')})`);
    if (fields.filter((g) => g.key === f.key).length > 1) throw refuse(f.name, 'given more than once');
    const value = fieldValue(f);
    switch (f.key) {
      case 'x-postier-category':
        if (!CATEGORY.test(value)) throw refuse(f.name, 'letters, digits, "_", "." and "-", at most 50');
        out.category = value.toLowerCase();
        break;
      case 'x-postier-tags': {
        const tags = value
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean);
        const bad = tags.find((t) => !TAG.test(t));
        if (bad !== undefined) throw refuse(f.name, `invalid tag ${JSON.stringify(bad)}`);
        if (tags.length > MAX_TAGS) throw refuse(f.name, `at most ${MAX_TAGS} tags`);
        out.tags = [...new Set(tags)];
        break;
      }
      case 'x-postier-metadata': {
        const m = jsonObject(f.name, value, MAX_METADATA_BYTES);
        for (const [k, v] of Object.entries(m)) {
          if (v !== null && !['string', 'number', 'boolean'].includes(typeof v))
            throw refuse(f.name, `value of ${JSON.stringify(k)} must be a string, number, boolean or null`);
        }
        out.metadata = m as SubmissionOptions['metadata'];
        break;
      }
      case 'x-postier-idempotency-key':
        if (!/^[\x21-\x7e]{1,255}$/.test(value)) throw refuse(f.name, '1 to 255 printable ASCII characters, no spaces');
        out.idempotencyKey = value;
        break;
      case 'x-postier-send-at':
        out.sendAt = value;
        break;
      case 'x-postier-template':
        if (!/^[A-Za-z0-9_.-]{1,100}$/.test(value)) throw refuse(f.name, 'not a template key');
        out.template = value;
        break;
      case 'x-postier-variables':
        out.variables = jsonObject(f.name, value, MAX_VARIABLES_BYTES);
        break;
    }
  }
  if (out.variables && !out.template) throw refuse('X-Postier-Variables', 'only with X-Postier-Template');
  return out;
}
