import http from 'node:http';
import type net from 'node:net';

/**
 * A load balancer the size of a test: round robin over the backends whose GET /readyz answers
 * 200 (checked every `checkMs`, as HAProxy or a cloud load balancer would), keep-alive
 * connections to each backend (as nginx's `keepalive` or HAProxy's connection reuse), and one
 * safe retry: a request whose connection was refused (no byte of it sent) goes to the next
 * backend. Anything else (a reset, a 503 from a closing server) is the client's failure, counted.
 */
export class Balancer {
  readonly up: boolean[];
  /** Requests answered by each backend. */
  readonly served: number[];
  refusedRetries = 0;
  failures: string[] = [];
  private next = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly agents: http.Agent[];

  private constructor(
    readonly ports: number[],
    private readonly server: http.Server,
    readonly port: number,
  ) {
    this.up = ports.map(() => false);
    this.served = ports.map(() => 0);
    this.agents = ports.map(() => new http.Agent({ keepAlive: true, maxSockets: 16 }));
  }

  static async start(ports: number[], checkMs = 100): Promise<Balancer> {
    let self: Balancer | null = null;
    const server = http.createServer((req, res) => void self!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new Balancer(ports, server, (server.address() as net.AddressInfo).port);
    await self.check();
    self.timer = setInterval(() => void self!.check(), checkMs);
    return self;
  }

  private async check(): Promise<void> {
    await Promise.all(
      this.ports.map(async (port, i) => {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
          await r.arrayBuffer();
          this.up[i] = r.status === 200;
        } catch {
          this.up[i] = false;
        }
      }),
    );
  }

  private pick(): number | null {
    for (let k = 0; k < this.ports.length; k++) {
      const i = (this.next + k) % this.ports.length;
      if (this.up[i]) {
        this.next = i + 1;
        return i;
      }
    }
    return null;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const i = this.pick();
      if (i === null) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const outcome = await this.forward(i, req, body, res);
      if (outcome === 'done') {
        this.served[i]!++;
        return;
      }
      if (outcome === 'refused') {
        this.up[i] = false;
        this.refusedRetries++;
        continue;
      }
      this.failures.push(`${req.method} ${req.url} → backend ${i}: ${outcome}`);
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
      return;
    }
    this.failures.push(`${req.method} ${req.url}: no backend up for 10 s`);
    res.writeHead(503).end();
  }

  private forward(
    i: number,
    req: http.IncomingMessage,
    body: Buffer,
    res: http.ServerResponse,
  ): Promise<'done' | 'refused' | string> {
    return new Promise((resolve) => {
      const port = this.ports[i]!;
      const { connection: _hopByHop, ...headers } = req.headers;
      const out = http.request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent: this.agents[i] },
        (r) => {
          // A 503 here comes from a server that is closing: it is the failure a balancer must not see.
          if (r.statusCode === 503) this.failures.push(`${req.method} ${req.url} → backend ${i}: 503`);
          res.writeHead(r.statusCode!, { 'content-type': r.headers['content-type'] ?? 'application/octet-stream' });
          r.pipe(res);
          r.on('end', () => resolve('done'));
          r.on('error', (e) => resolve(`response broken: ${e.message}`));
        },
      );
      out.on('error', (e: NodeJS.ErrnoException) =>
        resolve(e.code === 'ECONNREFUSED' ? 'refused' : `${e.code ?? ''} ${e.message}`),
      );
      out.end(body);
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const a of this.agents) a.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
