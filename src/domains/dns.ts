import { Resolver } from 'node:dns/promises';
import { withTimeout } from '../platform/with-timeout.js';
import type { Lookup } from './checks.js';

/** The DNS answers the checks need. */
export interface DnsLookup {
  txt(name: string): Promise<Lookup<string>>;
  mx(name: string): Promise<Lookup<{ priority: number; exchange: string }>>;
}

/** No such name or no record of that type: an answer (none), not a failure. */
const NONE = new Set(['ENODATA', 'ENOTFOUND']);

const TRIES = 2;

/**
 * Node's resolver (c-ares) on DNS_SERVERS (`ip` or `ip:port`), or the system's resolvers when
 * none are given. A question is asked up to twice and fails with `ETIMEOUT` once
 * 2 × `timeoutMs` have passed without an answer. The deadline is kept here: c-ares spaces its
 * retries by its own rules (1.34, in Node 20: a silent server gives up after 8 s for
 * `timeout: 3000, tries: 2`, not 6 s), and they change between its versions.
 */
export function dnsLookup(servers: string[], timeoutMs = 3000): DnsLookup {
  const resolver = new Resolver({ timeout: timeoutMs, tries: TRIES });
  if (servers.length > 0) resolver.setServers(servers);
  const ask = async <T>(q: () => Promise<T[]>): Promise<Lookup<T>> => {
    try {
      return { records: await withTimeout(q(), timeoutMs * TRIES, 'ETIMEOUT') };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
      return NONE.has(code) ? { records: [] } : { error: code };
    }
  };
  return {
    // A TXT record may be split in strings of 255 octets: joined, as DKIM and SPF read it.
    txt: (name) => ask(async () => (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''))),
    mx: (name) => ask(() => resolver.resolveMx(name)),
  };
}
