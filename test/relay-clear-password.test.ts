import { describe, expect, it } from 'vitest';
import { clearPasswordRelays } from '../src/delivery/index.js';
import { loadConfig } from '../src/platform/config.js';

/** The start-up warning of delivery/start.ts: a relay password that would cross the network in clear. */
describe('relays that would get the password in clear', () => {
  it('names a relay with a user over plain SMTP on another host, and nothing else', () => {
    const relay = { SMTP_HOST: 'smtp.example.net', SMTP_PORT: '587', SMTP_USER: 'postier', SMTP_PASSWORD: 'secret' };
    expect(clearPasswordRelays(loadConfig(relay))).toEqual([]); // TLS is the default
    expect(clearPasswordRelays(loadConfig({ ...relay, SMTP_USE_TLS: 'false' }))).toEqual(['smtp.example.net:587']);
    // No user, no password to leak; a relay on this machine is not crossing a network.
    expect(clearPasswordRelays(loadConfig({ SMTP_HOST: 'smtp.example.net', SMTP_USE_TLS: 'false' }))).toEqual([]);
    for (const host of ['127.0.0.1', 'localhost', '::1'])
      expect(clearPasswordRelays(loadConfig({ ...relay, SMTP_HOST: host, SMTP_USE_TLS: 'false' }))).toEqual([]);
    // Fallbacks: smtp:// follows SMTP_USE_TLS; smtps:// is TLS from the first byte.
    const fallbacks = clearPasswordRelays(
      loadConfig({
        ...relay,
        SMTP_USE_TLS: 'false',
        SMTP_FALLBACK_URLS: 'smtp://u:p@backup.example.net:2525,smtps://u:p@secure.example.net,smtp://open.example.net',
      }),
    );
    expect(fallbacks).toEqual(['smtp.example.net:587', 'backup.example.net:2525']);
  });
});
