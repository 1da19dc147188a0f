import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError, type ErrorCode } from '../../platform/errors.js';
import { echo } from '../untrusted.js';
import { validateAmazonUrl } from './signature.js';

export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** Certificate fetches under way at once, all URLs together; past it, 503 (SNS retries). */
export const MAX_CERT_FETCHES = 4;
/** How long Amazon's "no such certificate" (or not a certificate) is remembered for a URL. */
export const CERT_REFUSED_MS = 60_000;
/**
 * How long a fetch that could not reach Amazon (network, timeout, 5xx) is remembered for a URL:
 * less than the 20 s SNS waits between the retries of its default HTTP/S delivery policy (3 of
 * them), so its next retry fetches again.
 */
export const CERT_UNREACHABLE_MS = 10_000;
/** Failures remembered at most (the oldest forgotten first). */
const MAX_FAILURES = 1000;
/** Amazon's certificates are about 2 KB. */
const MAX_PEM_BYTES = 64 * 1024;

interface Failure {
  code: ErrorCode;
  message: string;
  details: unknown;
  until: number;
}

/**
 * SNS signing certificates, cached on disk as `<dir>/<host>/<file name>` so operators can
 * pre-load them (and hosts without outbound access work). A certificate is only ever fetched
 * from a URL that passed validation (the topic's own SNS host), and a fetched one must parse as
 * X.509 before it is kept. Each message may name a new file, so fetches are bounded: one at a
 * time per URL (later requests wait for it), MAX_CERT_FETCHES at once in all, and a failure is
 * answered again without fetching for a while (CERT_REFUSED_MS, CERT_UNREACHABLE_MS).
 */
export class CertificateStore {
  private readonly memory = new Map<string, string>();
  private readonly loading = new Map<string, Promise<string>>();
  private readonly failures = new Map<string, Failure>();
  private fetching = 0;

  constructor(
    private readonly dir: string,
    private readonly fetchAmazon: () => Fetch,
    private readonly now: () => number = Date.now,
  ) {}

  /** The PEM at `certUrl`, which must be on `host` (the topic's SNS host, snsHostOf). */
  async get(certUrl: string, host: string): Promise<string> {
    const u = validateAmazonUrl(certUrl, 'SigningCertURL', true, host);
    const name = path.posix.basename(u.pathname);
    if (!/^[A-Za-z0-9._-]+\.pem$/.test(name))
      throw new AppError('sns_certificate_untrusted', 'Unexpected certificate file name', { url: echo(certUrl) });
    const file = path.join(this.dir, u.hostname, name);
    const known = this.memory.get(file);
    if (known) return known;
    const failed = this.failures.get(file);
    if (failed && failed.until > this.now()) throw new AppError(failed.code, failed.message, failed.details);
    const pending = this.loading.get(file);
    if (pending) return pending;
    const load = this.load(file, u).finally(() => this.loading.delete(file));
    this.loading.set(file, load);
    return load;
  }

  private async load(file: string, u: URL): Promise<string> {
    const cached = await readFile(file, 'utf8').catch(() => undefined);
    if (cached) {
      this.memory.set(file, cached);
      return cached;
    }
    if (this.fetching >= MAX_CERT_FETCHES)
      throw new AppError('unavailable', 'Too many SNS signing certificates are being fetched; retry later', {
        url: echo(u.href),
      });
    this.fetching++;
    let pem: string;
    try {
      pem = await this.download(u);
    } catch (e) {
      if (e instanceof AppError) this.remember(file, e);
      throw e;
    } finally {
      this.fetching--;
    }
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, pem);
    await rename(tmp, file);
    this.memory.set(file, pem);
    this.failures.delete(file);
    return pem;
  }

  private remember(file: string, e: AppError): void {
    const now = this.now();
    if (this.failures.size >= MAX_FAILURES) {
      for (const [k, f] of this.failures) if (f.until <= now) this.failures.delete(k);
      for (const k of this.failures.keys()) {
        if (this.failures.size < MAX_FAILURES) break;
        this.failures.delete(k);
      }
    }
    const ttl = e.status >= 500 ? CERT_UNREACHABLE_MS : CERT_REFUSED_MS;
    this.failures.delete(file);
    this.failures.set(file, { code: e.code, message: e.message, details: e.details, until: now + ttl });
  }

  /**
   * 503 `unavailable` when Amazon could not be reached or failed (SNS retries a 5xx: the next
   * attempt may find it); 403 `sns_certificate_untrusted` when Amazon says there is no such
   * certificate, or what it serves is not one (a forged URL: no retry would help).
   */
  private async download(u: URL): Promise<string> {
    const url = echo(u.href);
    let res: Response;
    let text = '';
    try {
      res = await this.fetchAmazon()(u.href, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
      if (res.ok) text = await res.text();
      else await res.body?.cancel();
    } catch (e) {
      throw new AppError(
        'unavailable',
        `Could not fetch the SNS signing certificate (${echo((e as Error).message)}); retry later`,
        { url },
      );
    }
    if (res.status >= 500 || res.status === 429)
      throw new AppError(
        'unavailable',
        `Amazon answered HTTP ${res.status} for the SNS signing certificate; retry later`,
        { url },
      );
    if (!res.ok)
      throw new AppError(
        'sns_certificate_untrusted',
        `Amazon has no SNS signing certificate there (HTTP ${res.status})`,
        { url },
      );
    try {
      if (text.length > MAX_PEM_BYTES) throw new Error('too large');
      new X509Certificate(text);
    } catch {
      throw new AppError('sns_certificate_untrusted', 'The SNS signing certificate is not a PEM X.509 certificate', {
        url,
      });
    }
    return text;
  }
}
