import MimeNode from 'nodemailer/lib/mime-node';
import { describe, expect, it } from 'vitest';
import { normalizeHeaderKey } from '../src/delivery/header-key-memo.js';

const KEYS = [
  'from', 'To', 'CC', 'reply-to', 'subject', 'message-id', 'date', 'mime-version', 'content-type', 'content-transfer-encoding',
  'content-disposition', 'content-id', 'list-unsubscribe', 'list-unsubscribe-post', 'x-smtpapi', 'X-SMTPAPI', 'dkim-signature',
  'arc-seal', 'bimi-selector', 'otp-token', 'x-spf', 'x-fbl', 'content-md5', 'content-features', 'x-postier-message-id',
  'From: ceo@example.com (', ' spaced name ', 'tab\tname', 'nul\u0000name', 'del\u007fname', '__proto__', 'constructor', '', 'ÉTÉ-header',
];

describe('header name memo (Nodemailer MimeNode)', () => {
  it('is installed over Nodemailer’s own function, which depends on the name alone', () => {
    expect(normalizeHeaderKey).toBeTypeOf('function');
    // The memo's premise: a Nodemailer that read the node's state (`this`) or more arguments
    // here would make the remembered name wrong for some nodes.
    expect(normalizeHeaderKey!.toString()).not.toMatch(/\bthis\b/);
    expect(normalizeHeaderKey!.length).toBe(1);
    expect((MimeNode.prototype as unknown as { _normalizeHeaderKey: unknown })._normalizeHeaderKey).not.toBe(normalizeHeaderKey);
  });

  it('gives what Nodemailer gives, the first time and when remembered', () => {
    const node = new MimeNode('text/plain') as unknown as { _normalizeHeaderKey(k: unknown): string };
    for (const key of KEYS) {
      const expected = normalizeHeaderKey!.call(node as unknown as MimeNode, key);
      expect(node._normalizeHeaderKey(key), JSON.stringify(key)).toBe(expected);
      expect(node._normalizeHeaderKey(key), JSON.stringify(key)).toBe(expected);
    }
    // Names that are not strings are not remembered, and still normalized as Nodemailer does.
    for (const key of [undefined, null, 42]) expect(node._normalizeHeaderKey(key)).toBe(normalizeHeaderKey!.call(node as unknown as MimeNode, key));
  });

  it('leaves the headers of a built message as Nodemailer writes them', async () => {
    const node = new MimeNode('text/plain', { baseBoundary: 'b' });
    node.setHeader('x-smtpapi', '{}');
    node.setHeader('list-unsubscribe-post', 'List-Unsubscribe=One-Click');
    node.setHeader('mime-version', '1.0');
    node.setContent('hello');
    const head = (await node.build()).toString().split('\r\n\r\n')[0]!;
    expect(head).toMatch(/^X-SMTPAPI: \{\}$/m);
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    expect(head).toMatch(/^MIME-Version: 1\.0$/m);
  });
});
