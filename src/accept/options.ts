import { AppError } from '../platform/errors.js';

/** The caller's labels on a message, over HTTP as fields and over SMTP as X-Postier-* headers. */
export const LIMITS = {
  tags: 20,
  tagChars: 64,
  metadataBytes: 4096,
  categoryChars: 50,
};

const CATEGORY = /^[a-z0-9][a-z0-9_.-]*$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

export function checkCategory(category: string): string {
  if (category.length > LIMITS.categoryChars || !CATEGORY.test(category)) {
    throw new AppError(
      'validation_failed',
      `category: 1 to ${LIMITS.categoryChars} characters of a-z, 0-9, "_", "-" and ".", starting with a letter or digit`,
      { field: 'category', value: category },
    );
  }
  return category;
}

/** Tags: short strings without control characters; duplicates dropped, order kept. Null when none. */
export function checkTags(tags: unknown): string[] | null {
  if (tags === undefined || tags === null) return null;
  if (!Array.isArray(tags))
    throw new AppError('validation_failed', 'tags: expected an array of strings', { field: 'tags' });
  if (tags.length > LIMITS.tags)
    throw new AppError('validation_failed', `tags: at most ${LIMITS.tags}`, { field: 'tags', max: LIMITS.tags });
  const out: string[] = [];
  for (const [i, t] of tags.entries()) {
    if (
      typeof t !== 'string' ||
      t.trim() === '' ||
      t.length > LIMITS.tagChars ||
      CONTROL.test(t) ||
      !t.isWellFormed()
    ) {
      throw new AppError('validation_failed', `tags[${i}]: 1 to ${LIMITS.tagChars} printable characters`, {
        field: 'tags',
        index: i,
      });
    }
    if (!out.includes(t)) out.push(t);
  }
  return out.length > 0 ? out : null;
}

/** Metadata: a JSON object, at most 4 KB as JSON; stored and returned as given. Null when absent. */
export function checkMetadata(metadata: unknown): string | null {
  if (metadata === undefined || metadata === null) return null;
  if (typeof metadata !== 'object' || Array.isArray(metadata))
    throw new AppError('validation_failed', 'metadata: expected a JSON object', { field: 'metadata' });
  const json = JSON.stringify(metadata);
  if (Buffer.byteLength(json) > LIMITS.metadataBytes) {
    throw new AppError('validation_failed', `metadata: at most ${LIMITS.metadataBytes} bytes as JSON`, {
      field: 'metadata',
      max_bytes: LIMITS.metadataBytes,
    });
  }
  return json;
}
