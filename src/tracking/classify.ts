/**
 * Which opens and clicks count: a person, not a machine. Machines are recorded too (with why),
 * never counted. Pure, so every rule is tested without HTTP.
 *
 * - Apple Mail Privacy Protection loads every image when the mail arrives, opened or not, with
 *   the bare user agent `Mozilla/5.0`: not an open.
 * - Security scanners (Microsoft Safe Links, Mimecast, Proofpoint, Barracuda, …) and scripts
 *   fetch images and follow links to inspect them: known agents, no agent at all, a request in
 *   the first seconds after the relay took the message, or several links of one message
 *   followed within a couple of seconds (a person follows one).
 * - Gmail and Yahoo fetch images through their proxy when the person opens the mail: an open,
 *   named by its proxy.
 */

export type Verdict = { counted: true; agent: string } | { counted: false; reason: string };

const SCANNER =
  /bot\b|crawler|spider|scan|barracuda|mimecast|proofpoint|symantec|messagelabs|trend ?micro|forcepoint|fortinet|sophos|safelinks|microsoft office|ms-office|headless|python|curl\/|wget|go-http-client|java\/|okhttp|libwww|httpclient|axios|node-fetch|undici/i;

/** Within this long of the relay taking the message, a fetch is a machine (scanners, prefetch). */
export const TOO_SOON_MS = 2000;
/** Several links of one message followed within this window: a scanner. */
export const BURST_MS = 2000;

function machine(ua: string, sentAt: number | null, now: number): string | null {
  if (ua.trim() === '') return 'no_user_agent';
  if (SCANNER.test(ua)) return 'scanner';
  if (sentAt !== null && now - sentAt < TOO_SOON_MS) return 'too_soon';
  return null;
}

export function classifyOpen(ua: string, sentAt: number | null, now: number): Verdict {
  if (/GoogleImageProxy/i.test(ua)) return { counted: true, agent: 'gmail_proxy' };
  if (/YahooMailProxy/i.test(ua)) return { counted: true, agent: 'yahoo_proxy' };
  if (ua.trim() === 'Mozilla/5.0') return { counted: false, reason: 'apple_mail_privacy' };
  const why = machine(ua, sentAt, now);
  return why ? { counted: false, reason: why } : { counted: true, agent: 'client' };
}

/** `recentLinks`: the other links of the message followed in the last BURST_MS. */
export function classifyClick(ua: string, sentAt: number | null, now: number, recentLinks: number): Verdict {
  const why = machine(ua, sentAt, now);
  if (why) return { counted: false, reason: why };
  if (recentLinks >= 1) return { counted: false, reason: 'burst' };
  return { counted: true, agent: 'client' };
}
