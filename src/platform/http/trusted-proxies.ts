import { BlockList, isIP } from 'node:net';

/**
 * TRUST_PROXY: the proxies whose `X-Forwarded-For` names the client of a request. Fastify takes
 * the address nearest the client that is not a trusted proxy (request.ip); the failed-login
 * guard counts by it. Entries: an address, a CIDR range, or one of the names below.
 */
const NAMED: Record<string, readonly string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Values of TRUST_PROXY that trust no proxy. */
const NONE = new Set(['none', 'false', 'off', 'no']);

/** Why an entry is not an address, a range or a name; undefined when it is one. */
function entryProblem(entry: string): string | undefined {
  if (NAMED[entry.toLowerCase()] || isIP(entry)) return undefined;
  const m = /^(.+)\/(\d{1,3})$/.exec(entry);
  const family = m ? isIP(m[1]!) : 0;
  if (m && family && Number(m[2]) <= (family === 4 ? 32 : 128)) return undefined;
  return `${JSON.stringify(entry)} is not an address, a CIDR range, loopback, linklocal or uniquelocal`;
}

/**
 * The entries of TRUST_PROXY's comma-separated list ([] for `none`), or the problems with them.
 */
export function parseTrustProxy(list: readonly string[]): { entries: string[]; problems: string[] } {
  if (list.length === 1 && NONE.has(list[0]!.toLowerCase())) return { entries: [], problems: [] };
  const problems = list.map(entryProblem).filter((p): p is string => p !== undefined);
  return { entries: [...list], problems };
}

/** Whether an address (IPv4, IPv6, IPv4-mapped IPv6) is one of the trusted proxies. */
export function proxyTrust(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries.flatMap((e) => NAMED[e.toLowerCase()] ?? [e])) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    const family = isIP(address);
    if (family === 0) return false;
    try {
      // A zone (fe80::1%eth0) is not part of the address BlockList compares.
      return list.check(address.replace(/%.*$/, ''), family === 6 ? 'ipv6' : 'ipv4');
    } catch {
      return false;
    }
  };
}
