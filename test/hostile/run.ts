/**
 * npm run test:hostile [-- --scale 1]       (CI runs test:hostile:short, scale 0.05)
 *
 * Throws thousands of generated bad requests at a real Postier (the HTTP app over a fresh SQLite
 * file, or PostgreSQL with TEST_DATABASE_URL) and checks, for every one: no 5xx, no crash, the
 * error shape, and nothing stored from a refused request. Accepted requests (hostile text in
 * variables is legal) must not carry CR/LF into a header-bound field. Prints a table of what it
 * tried, per kind, and exits non-zero on the first violated property.
 */
import { startWorker } from '../../src/delivery/start.js';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { makeSigner, placeCert, TOPIC_ARN } from '../helpers/sns.js';
import { incidentExample, invoiceExample, pdfBytes, pngBytes } from '../helpers/fixtures.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { printTable } from '../support/table.js';
import { kinds, type Attack } from './attacks.js';
import { mulberry32 } from './random.js';

const scaleArg = process.argv.indexOf('--scale');
const scale = scaleArg > 0 ? Number(process.argv[scaleArg + 1]) : 1;
const backend = process.env.TEST_DATABASE_URL && !process.argv.includes('--sqlite') ? 'postgres' : 'sqlite';

/** Stored rows a refused request must not add to: messages and template versions. */
async function countMessages(t: TestContext): Promise<number> {
  const m = await t.services.db
    .selectFrom('email_messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const v = await t.services.db
    .selectFrom('email_template_versions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(m.n) + Number(v.n);
}

/** Delivers everything accepted to a real SMTP sink and checks no hostile input became a header. */
async function checkDelivered(t: TestContext, fail: (why: string) => void): Promise<number> {
  const sink = await SmtpSink.start();
  const worker = startWorker(t.services, { host: '127.0.0.1', port: sink.port, plain: true });
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await t.services.db
        .selectFrom('email_messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', 'in', ['queued', 'sending'])
        .executeTakeFirstOrThrow();
      if (Number(r.n) === 0) break;
      if (Date.now() > deadline) {
        fail(`${r.n} messages still undelivered after 120 s`);
        break;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
  } finally {
    await worker.stop();
    await sink.close();
  }
  for (const m of sink.messages) {
    const head = m.raw.subarray(0, m.raw.indexOf('\r\n\r\n')).toString('latin1');
    if (/^bcc:/im.test(head)) fail(`a Bcc header reached the wire for ${m.messageId}`);
    if (/victim@|^x-injected/im.test(head)) fail(`an injected header reached the wire for ${m.messageId}`);
    if (m.envelope.to.some((a) => /victim|[\r\n]/.test(a))) fail(`an injected envelope recipient for ${m.messageId}`);
    const parsed = await sink.parse(m);
    // As a client reads them: no control or bidi character in the subject, nothing unsafe in a filename.
    const controlOrBidi = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
    if (controlOrBidi.test(parsed.subject ?? ''))
      fail(`a control or bidi character in the delivered subject of ${m.messageId}`);
    for (const a of parsed.attachments) {
      const name = a.filename ?? '';
      if (controlOrBidi.test(name) || /[/\\]|^\s*\./.test(name))
        fail(`an unsafe attachment filename ${JSON.stringify(name)} in ${m.messageId}`);
    }
    for (const bad of ['root:x:0:0', '[object process]', 'NODE_OPTIONS', '"dependencies"']) {
      if (`${parsed.text ?? ''}${parsed.html || ''}`.includes(bad))
        fail(`template output leaked ${JSON.stringify(bad)} in ${m.messageId}`);
    }
  }
  return sink.messages.length;
}

async function main() {
  const signer = makeSigner();
  const t = await createTestContext(backend, { SNS_ALLOWED_TOPIC_ARNS: TOPIC_ARN, LOG_LEVEL: 'silent' });
  placeCert(t.config.sns.certCacheDir, signer);
  const rnd = mulberry32(20261123);
  const ctx = {
    rnd,
    signer,
    valid: { invoice: invoiceExample(), incident: incidentExample() },
    pdf: pdfBytes(),
    png: pngBytes(),
  };
  const rows: Array<Record<string, string | number>> = [];
  let failures = 0;
  const fail = (kind: string, attack: Attack, why: string) => {
    failures++;
    if (failures <= 20)
      console.error(`FAIL [${kind}] ${why}\n  request: ${JSON.stringify(attack.describe ?? attack).slice(0, 300)}`);
  };

  try {
    for (const kind of kinds) {
      const n = Math.max(3, Math.round(kind.count * scale));
      const statuses: Record<string, number> = {};
      let accepted = 0;
      for (let i = 0; i < n; i++) {
        const attack = kind.make(ctx, i);
        const before = await countMessages(t);
        const res = await t.app.inject({
          method: attack.method ?? 'POST',
          url: attack.url ?? '/api/v1/email/send',
          headers: attack.headers ?? {
            authorization: 'Bearer test-admin-token-0123456789abcdef',
            'content-type': 'application/json',
          },
          payload: attack.body,
        });
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode >= 500) fail(kind.name, attack, `status ${res.statusCode}: ${res.body.slice(0, 200)}`);
        if (/ at .*\.(ts|js):\d+/.test(res.body)) fail(kind.name, attack, 'stack trace in response');
        const after = await countMessages(t);
        if (res.statusCode >= 400) {
          let shape: any;
          try {
            shape = res.json();
          } catch {
            shape = undefined;
          }
          if (!shape?.error?.code || typeof shape.error.message !== 'string')
            fail(kind.name, attack, `error without the JSON shape: ${res.body.slice(0, 120)}`);
          if (after !== before) fail(kind.name, attack, `refused request stored ${after - before} message(s)`);
        } else if (res.statusCode >= 200 && res.statusCode < 300 && !(res.json() as { items?: unknown }).items) {
          accepted++;
          if (kind.mustRefuse) fail(kind.name, attack, 'accepted a request that must be refused');
        } else if (res.statusCode === 201) {
          accepted++;
          for (const item of res.json().items as Array<{ id: string }>) {
            const m = await t.services.db
              .selectFrom('email_messages')
              .select(['subject', 'recipient_email', 'reply_to'])
              .where('id', '=', item.id)
              .executeTakeFirstOrThrow();
            for (const [field, value] of Object.entries(m)) {
              if (typeof value === 'string' && /[\r\n\u0000]/.test(value))
                fail(kind.name, attack, `CR/LF/NUL reached header-bound field ${field}`);
            }
          }
          if (kind.mustRefuse) fail(kind.name, attack, 'accepted a request that must be refused');
        }
      }
      rows.push({
        kind: kind.name,
        tried: n,
        refused: n - accepted,
        accepted,
        statuses: Object.entries(statuses)
          .map(([s, c]) => `${s}×${c}`)
          .join(' '),
      });
    }
    const delivered = await checkDelivered(t, (why) => fail('delivery', {}, why));
    rows.push({
      kind: 'accepted mail delivered and checked on the wire',
      tried: delivered,
      refused: 0,
      accepted: delivered,
      statuses: 'SMTP 250',
    });
  } finally {
    await t.close();
  }
  printTable(`Hostile input against the HTTP app on ${backend} (scale ${scale})`, rows);
  const total = rows.reduce((a, r) => a + Number(r.tried), 0);
  console.log(`${total} requests, ${failures} violations`);
  console.log(`${total - failures} passed, ${failures} failed`);
  process.exit(failures === 0 ? 0 : 1);
}

await main();
