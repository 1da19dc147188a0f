import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import {
  ATTACHMENT_TYPES,
  attachment,
  PostierClient,
  PostierError,
  type SendRequest,
} from '../../../packages/client/src/index.js';

const collect = (v: string, acc: string[]) => [...acc, v];

export function parseVars(pairs: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`--var ${JSON.stringify(p)}: expected key=value`);
    vars[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return vars;
}

export function readAttachment(file: string): NonNullable<SendRequest['attachments']>[number] {
  const ext = path.extname(file).slice(1).toLowerCase();
  if (!Object.hasOwn(ATTACHMENT_TYPES, ext))
    throw new Error(`--attach ${file}: unknown extension .${ext} (known: ${Object.keys(ATTACHMENT_TYPES).join(', ')})`);
  return attachment(path.basename(file), readFileSync(file));
}

/**
 * The API key: --token-file, then --token, then $POSTIER_TOKEN. A command line is readable by
 * every user of the machine (ps, /proc/PID/cmdline) while the request runs, so --token warns.
 */
export function readToken(o: { token?: string; tokenFile?: string }): string {
  if (o.tokenFile !== undefined && o.token !== undefined) throw new Error('Pass --token-file or --token, not both');
  if (o.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.tokenFile === '-' ? 0 : o.tokenFile, 'utf8');
    } catch (e) {
      throw new Error(`--token-file ${o.tokenFile}: ${(e as Error).message}`);
    }
    const token = text.trim();
    if (token === '') throw new Error(`--token-file ${o.tokenFile}: the file is empty`);
    return token;
  }
  if (o.token !== undefined) {
    console.error(
      'Warning: --token is visible to every user of this machine (ps) while postier runs; use POSTIER_TOKEN or --token-file.',
    );
    if (o.token !== '') return o.token;
  }
  const token = process.env.POSTIER_TOKEN;
  if (!token) throw new Error('No token: set POSTIER_TOKEN or pass --token-file');
  return token;
}

/** --timeout: whole milliseconds a timer can wait (setTimeout's limit), never NaN. */
export function timeoutOf(v: string): number {
  const ms = Number(v);
  if (!/^[0-9]+$/.test(v.trim()) || !Number.isSafeInteger(ms) || ms < 1 || ms > 2_147_483_647)
    throw new Error(`--timeout ${JSON.stringify(v)}: expected a whole number of milliseconds, 1 to 2147483647`);
  return ms;
}

interface SendFlags {
  template: string;
  to: string[];
  var: string[];
  attach: string[];
  locale?: string;
  url: string;
  token?: string;
  tokenFile?: string;
  idempotencyKey?: string;
  timeout: string;
}

/** `postier send`: a caller's-eye smoke test over HTTP, through the same client other projects use. */
export function registerSendCommand(program: Command): void {
  program
    .command('send')
    .description('Send an email from a template through a running Postier (HTTP API)')
    .requiredOption('--template <key>', 'template key')
    .option('--to <address>', 'recipient (repeat for several)', collect, [])
    .option('--var <key=value>', 'template variable (repeat)', collect, [])
    .option('--attach <file>', 'attachment; content type from the extension (repeat)', collect, [])
    .option('--locale <locale>', 'e.g. fr or en')
    .option('--url <url>', 'Postier base URL', process.env.POSTIER_URL ?? 'http://127.0.0.1:8000')
    .option('--token-file <file>', 'read the API key from this file (- for standard input)')
    .option(
      '--token <token>',
      'API key; visible to every user of the machine in ps, prefer $POSTIER_TOKEN or --token-file',
    )
    .option('--idempotency-key <key>', 'retrying with the same key cannot send twice')
    .option('--timeout <ms>', 'request timeout in milliseconds', '30000')
    .action(async (o: SendFlags) => {
      const token = readToken(o);
      if (o.to.length === 0) throw new Error('At least one --to is required');
      const client = new PostierClient({ baseUrl: o.url, token, timeoutMs: timeoutOf(o.timeout) });
      const attachments = o.attach.map(readAttachment);
      try {
        const { items } = await client.send(
          {
            to: o.to,
            template_key: o.template,
            variables: parseVars(o.var),
            ...(attachments.length ? { attachments } : {}),
            ...(o.locale ? { locale: o.locale } : {}),
          },
          { idempotencyKey: o.idempotencyKey },
        );
        for (const i of items) console.log(`${i.id}\t${i.to}\t${i.status}`);
      } catch (e) {
        if (e instanceof PostierError) {
          throw new Error(
            `${e.code} (HTTP ${e.status}): ${e.message}${e.details !== undefined ? `\n${JSON.stringify(e.details, null, 2)}` : ''}`,
          );
        }
        throw e;
      }
    });
}
