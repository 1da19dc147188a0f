import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../platform/errors.js';
import { validateAmazonUrl } from './signature.js';

export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * SNS signing certificates, cached on disk as `<dir>/<host>/<file name>` so operators can
 * pre-load them (and hosts without outbound access work). A certificate is only ever fetched
 * from a URL that passed validation, and a fetched one must parse as X.509 before it is kept.
 */
export class CertificateStore {
  private readonly memory = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly fetchAmazon: () => Fetch,
  ) {}

  async get(certUrl: string): Promise<string> {
    const u = validateAmazonUrl(certUrl, 'SigningCertURL', true);
    const name = path.posix.basename(u.pathname);
    if (!/^[A-Za-z0-9._-]+\.pem$/.test(name))
      throw new AppError('sns_certificate_untrusted', 'Unexpected certificate file name', { url: certUrl });
    const file = path.join(this.dir, u.hostname, name);
    const cached = this.memory.get(file) ?? (await readFile(file, 'utf8').catch(() => undefined));
    if (cached) {
      this.memory.set(file, cached);
      return cached;
    }
    const pem = await this.download(u);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, pem);
    await rename(tmp, file);
    this.memory.set(file, pem);
    return pem;
  }

  private async download(u: URL): Promise<string> {
    let pem: string;
    try {
      const res = await this.fetchAmazon()(u.href, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      pem = await res.text();
    } catch (e) {
      throw new AppError('upstream_error', `Could not fetch the SNS signing certificate: ${(e as Error).message}`, {
        url: u.href,
      });
    }
    try {
      new X509Certificate(pem);
    } catch {
      throw new AppError('sns_certificate_untrusted', 'The SNS signing certificate is not a PEM X.509 certificate', {
        url: u.href,
      });
    }
    return pem;
  }
}
