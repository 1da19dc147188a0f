import { Resolver } from 'node:dns/promises';
import type { Lookup } from './checks.js';

/** The DNS answers the checks need. */
export interface DnsLookup {
  txt(name: string): Promise<Lookup<string>>;
  mx(name: string): Promise<Lookup<{ priority: number; exchange: string }>>;
}

/** No such name or no record of that type: an answer (none), not a failure. */
const NONE = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * Node's resolver (c-ares) on DNS_SERVERS (`ip` or `ip:port`), or the system's resolvers when
 * none are given. Each question waits `timeoutMs` per try, two tries.
 */
export function dnsLookup(servers: string[], timeoutMs = 3000): DnsLookup {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length > 0) resolver.setServers(servers);
  const ask = async <T>(q: () => Promise<T[]>): Promise<Lookup<T>> => {
    try {
      return { records: await q() };
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
