import { createHmac, randomBytes } from 'node:crypto';
import { AppError } from '../platform/errors.js';

/**
 * Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the
 * bytes of a `whsec_<base64>` secret. Receivers can use any Standard Webhooks library.
 */
export const generateSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

export function secretBytes(secret: string): Buffer {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  const bytes = m ? Buffer.from(m[1]!, 'base64') : Buffer.alloc(0);
  if (bytes.length < 24 || bytes.length > 64) {
    throw new AppError('invalid_request', 'secret: expected whsec_ followed by 24 to 64 bytes in base64', {
      field: 'secret',
    });
  }
  return bytes;
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', secretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}
