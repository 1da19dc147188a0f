import type { Config } from '../platform/config.js';
import type { AdmissionPolicy } from '../accept/index.js';
import { createUnsubscribeToken } from './token.js';

/**
 * Not a refusal but a decoration, decided at accept time: mail of an unsubscribable class gets
 * RFC 2369 List-Unsubscribe (https link first, then mailto) and RFC 8058 one-click headers,
 * stored on the message so the worker adds them and the archive shows them.
 */
export function unsubscribeHeadersPolicy(config: Config, key: Buffer): AdmissionPolicy {
  const classes = new Set(config.unsubscribe.classes);
  const policy: AdmissionPolicy = {
    async admitMany(trx, items, now) {
      return Promise.all(items.map((i) => policy.admit(trx, i.recipient, i.message, now)));
    },
    async admit(_trx, recipient, message) {
      if (!classes.has(message.class)) return { status: 'queued' };
      const token = createUnsubscribeToken(key, {
        email: recipient,
        cls: message.class,
        // Mail without a template has no language of its own: the confirmation page takes the default.
        locale: message.locale ?? config.email.defaultLocale,
      });
      const mailto = `mailto:${config.unsubscribe.mailto}?subject=${encodeURIComponent(`unsubscribe ${token}`)}`;
      return {
        status: 'queued',
        headers: {
          'List-Unsubscribe': `<${config.publicUrl}/u/${token}>, <${mailto}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        },
      };
    },
  };
  return policy;
}
