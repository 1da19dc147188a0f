import { describe, expect, it } from 'vitest';
import { SuppressedRecipients } from '../src/delivery/withheld.js';
import { newId } from '../src/platform/ids.js';
import { registry } from '../src/platform/metrics.js';
import { addSuppression } from '../src/suppressions/index.js';
import { backends, type TestContext } from './helpers/context.js';
import { deliveryHarness } from './helpers/delivery-harness.js';
import { eventData, messageRow, sendOk, until, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import type { SmtpSink } from './support/smtp-sink.js';
import { recordStatements } from './support/statements.js';

/**
 * cc and bcc addresses on the suppression list are left out of the envelope when a message is
 * delivered (accept checks `to` only): no RCPT TO for them, the others get the message, the Cc
 * header stays as written, and the message's recipient status and events say who was withheld.
 */

const raw = (over: Record<string, unknown> = {}) => ({
  to: 'noc@rgz.bj',
  subject: 'Maintenance planifiée du 3 mars',
  html: '<p>Bonjour,</p><p>Coupure de 02:00 à 04:00.</p>',
  ...over,
});

interface Stored {
  kind: string;
  status: string;
  code: number | null;
  response: string;
  attempts: number;
}

describe.each(backends)('suppressed cc and bcc at delivery on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  const { run, stop, suppress, rcpts } = deliveryHarness(
    backend,
    {
      SMTP_TIMEOUT_SECONDS: '2',
      WORKER_POLL_MS: '20',
      WORKER_RETRY_BASE_SECONDS: '0.05',
      WORKER_RETRY_MAX_SECONDS: '0.2',
      EMAIL_SUPPRESSION_BYPASS_CATEGORIES: 'incident',
    },
    (made) => {
      ({ t, sink } = made);
    },
  );
  const statusOf = async (id: string) =>
    JSON.parse((await messageRow(t, id)).recipient_status ?? 'null') as Record<string, Stored> | null;
  const withheldCount = async (kind: string) => {
    const metric = await registry.getSingleMetric('postier_delivery_recipients_withheld_total')?.get();
    return metric?.values.find((v) => v.labels.kind === kind)?.value ?? 0;
  };
  const detail = async (id: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json() as {
      recipients: Array<{ address: string; kind: string; status: string; response: string | null }>;
    };

  it('a suppressed cc gets no RCPT TO (any case); the to, the other cc and the bcc get the message, the Cc header as written', async () => {
    await suppress('gone-cc@rgz.bj');
    // Unsubscribed from marketing only: this transactional message still goes to it.
    await suppress('mk-cc@rgz.bj', 'marketing');
    const before = await withheldCount('cc');
    const [id] = await sendOk(t, raw({ cc: 'Gone-CC@rgz.bj, mk-cc@rgz.bj', bcc: 'audit@rgz.bj' }));
    run();
    await waitForStatus(t, [id!], ['sent', 'partially_sent', 'failed']);

    expect(rcpts().sort()).toEqual(['audit@rgz.bj', 'mk-cc@rgz.bj', 'noc@rgz.bj']);
    expect(sink.accepted).toHaveLength(1);
    expect(sink.accepted[0]!.envelope.to.sort()).toEqual(['audit@rgz.bj', 'mk-cc@rgz.bj', 'noc@rgz.bj']);
    // The Cc header is the content: it names the withheld address as the sender wrote it.
    const mail = await sink.parse(sink.accepted[0]!);
    expect(mail.cc).toMatchObject({ value: [{ address: 'Gone-CC@rgz.bj' }, { address: 'mk-cc@rgz.bj' }] });

    const row = await messageRow(t, id!);
    expect(row.status).toBe('sent');
    expect(row.smtp_response).toMatch(/^250/);
    const status = await statusOf(id!);
    expect(status!['Gone-CC@rgz.bj']).toMatchObject({
      kind: 'cc',
      status: 'suppressed',
      code: null,
      response: 'Recipient is suppressed (manual)',
    });
    expect(status!['mk-cc@rgz.bj']).toMatchObject({ kind: 'cc', status: 'accepted' });
    expect(status!['audit@rgz.bj']).toMatchObject({ kind: 'bcc', status: 'accepted' });
    expect(status!['noc@rgz.bj']).toMatchObject({ kind: 'to', status: 'accepted' });

    const [attempt] = await eventData<{ withheld?: unknown; recipients: Array<{ address: string }> }>(
      t,
      id!,
      'attempt',
    );
    expect(attempt!.withheld).toEqual([
      { address: 'Gone-CC@rgz.bj', kind: 'cc', reason: 'Recipient is suppressed (manual)' },
    ]);
    expect(attempt!.recipients.map((r) => r.address).sort()).toEqual(['audit@rgz.bj', 'mk-cc@rgz.bj', 'noc@rgz.bj']);
    const [sent] = await eventData(t, id!, 'sent');
    expect(sent).toMatchObject({ withheld: ['Gone-CC@rgz.bj'] });

    // The message API (and the admin UI's message page) shows it suppressed, with why.
    const view = (await detail(id!)).recipients.find((r) => r.address === 'Gone-CC@rgz.bj');
    expect(view).toMatchObject({ kind: 'cc', status: 'suppressed', response: 'Recipient is suppressed (manual)' });
    expect(await withheldCount('cc')).toBe(before + 1);
  });

  it('a suppressed bcc gets no RCPT TO, the others do; its status says suppressed, kind bcc', async () => {
    await addSuppression(t.services.db, {
      email: 'audit-gone@rgz.bj',
      scope: 'all',
      reason: 'bounce',
      source: 'report',
      at: Date.now(),
    });
    const before = await withheldCount('bcc');
    const [id] = await sendOk(t, raw({ to: 'noc2@rgz.bj', bcc: ['audit-gone@rgz.bj', 'audit2@rgz.bj'] }));
    run();
    await waitForStatus(t, [id!], ['sent', 'partially_sent', 'failed']);

    expect(rcpts().sort()).toEqual(['audit2@rgz.bj', 'noc2@rgz.bj']);
    expect(sink.accepted[0]!.raw.toString()).not.toMatch(/audit/);
    expect((await messageRow(t, id!)).status).toBe('sent');
    expect((await statusOf(id!))!['audit-gone@rgz.bj']).toMatchObject({
      kind: 'bcc',
      status: 'suppressed',
      response: 'Recipient is suppressed (bounce)',
    });
    const [attempt] = await eventData<{ withheld?: unknown }>(t, id!, 'attempt');
    expect(attempt!.withheld).toEqual([
      { address: 'audit-gone@rgz.bj', kind: 'bcc', reason: 'Recipient is suppressed (bounce)' },
    ]);
    expect(await withheldCount('bcc')).toBe(before + 1);
  });

  it('an address suppressed in punycode is withheld as a Unicode cc, and one stored in Unicode as a punycode bcc', async () => {
    // Stored canonical (punycode), as a relay's bounce spells it.
    await suppress('u@xn--bcher-kva.de');
    // Stored in Unicode, as entries were before punycode was the rule.
    await t.services.db
      .insertInto('email_suppressions')
      .values({
        id: newId(),
        email: 'v@bücher.de',
        scope: 'all',
        reason: 'complaint',
        source: 'report',
        source_event: null,
        message_id: null,
        details: null,
        created_by: null,
        created_at: Date.now(),
      })
      .execute();
    const [id] = await sendOk(t, raw({ to: 'noc3@rgz.bj', cc: 'U@bücher.de, w@bücher.de', bcc: 'v@xn--bcher-kva.de' }));
    run();
    await waitForStatus(t, [id!], ['sent', 'partially_sent', 'failed']);

    expect(rcpts().sort()).toEqual(['noc3@rgz.bj', 'w@xn--bcher-kva.de']);
    expect((await messageRow(t, id!)).status).toBe('sent');
    const status = await statusOf(id!);
    // Keyed by the envelope's spelling; the kind found from the stored (Unicode) cc.
    expect(status!['U@xn--bcher-kva.de']).toMatchObject({ kind: 'cc', status: 'suppressed' });
    expect(status!['v@xn--bcher-kva.de']).toMatchObject({
      kind: 'bcc',
      status: 'suppressed',
      response: 'Recipient is suppressed (complaint)',
    });
    expect(status!['w@xn--bcher-kva.de']).toMatchObject({ kind: 'cc', status: 'accepted' });
    const view = await detail(id!);
    expect(view.recipients.map((r) => [r.address, r.kind, r.status])).toEqual([
      ['noc3@rgz.bj', 'to', 'accepted'],
      ['U@bücher.de', 'cc', 'suppressed'],
      ['w@bücher.de', 'cc', 'accepted'],
      ['v@xn--bcher-kva.de', 'bcc', 'suppressed'],
    ]);
  });

  it('judges each attempt by the list as it is then: a cc deferred, then suppressed, is not sent to again and the message ends sent', async () => {
    sink.on('rcpt', { reply: '451 4.2.1 Mailbox busy, try later' }, { match: 'later@rgz.bj' });
    const [id] = await sendOk(t, raw({ to: 'noc4@rgz.bj', cc: 'later@rgz.bj' }));
    // A long backoff: the second attempt happens only when the test makes the message due.
    run({ backoff: { baseMs: 3_600_000, maxMs: 3_600_000 } });
    await until('the cc deferred', async () => (await statusOf(id!))?.['later@rgz.bj']?.status === 'deferred');
    await stop();
    const first = await messageRow(t, id!);
    expect(first.status).toBe('queued');
    expect(rcpts().sort()).toEqual(['later@rgz.bj', 'noc4@rgz.bj']);

    await suppress('later@rgz.bj');
    await t.services.db
      .updateTable('email_messages')
      .set({ next_attempt_at: Date.now() })
      .where('id', '=', id!)
      .execute();
    sink.commands.length = 0;
    run();
    await waitForStatus(t, [id!], ['sent', 'partially_sent', 'failed']);
    // Nothing left to send to: no SMTP transaction at all.
    expect(rcpts()).toEqual([]);
    expect(sink.accepted).toHaveLength(1);
    const row = await messageRow(t, id!);
    expect(row.status).toBe('sent');
    // The relay's reply to the message stays on record.
    expect(row.smtp_response).toBe(first.smtp_response);
    expect(row.smtp_response).toMatch(/^250/);
    expect((await statusOf(id!))!['later@rgz.bj']).toMatchObject({ kind: 'cc', status: 'suppressed', attempts: 1 });
    const attempts = await eventData<{ withheld?: unknown }>(t, id!, 'attempt');
    expect(attempts.map((a) => a.withheld)).toEqual([
      undefined,
      [{ address: 'later@rgz.bj', kind: 'cc', reason: 'Recipient is suppressed (manual)' }],
    ]);
  });

  it("respects the list's scopes: a bypass category reaches a cc suppressed for all mail, never one unsubscribed from its class; a caller's category never bypasses", async () => {
    await suppress('byp-all@rgz.bj');
    await suppress('byp-tx@rgz.bj', 'transactional');
    const [tpl] = await sendOk(t, { ...incidentExample(), to: 'noc5@rgz.bj', cc: 'byp-all@rgz.bj, byp-tx@rgz.bj' });
    const [own] = await sendOk(t, raw({ to: 'noc6@rgz.bj', category: 'incident', bcc: 'byp-all@rgz.bj' }));
    run();
    await waitForStatus(t, [tpl!, own!], ['sent', 'partially_sent', 'failed']);
    const envelopes = sink.accepted.map((m) => m.envelope.to.sort());
    expect(envelopes).toContainEqual(['byp-all@rgz.bj', 'noc5@rgz.bj']);
    expect(envelopes).toContainEqual(['noc6@rgz.bj']);
    expect((await statusOf(tpl!))!['byp-tx@rgz.bj']).toMatchObject({
      status: 'suppressed',
      response: 'Recipient is suppressed (manual from transactional mail)',
    });
    expect((await statusOf(own!))!['byp-all@rgz.bj']).toMatchObject({ kind: 'bcc', status: 'suppressed' });
  });

  it('asks the list once per leased batch, about every message of it (its to, cc and bcc)', async () => {
    await suppress('batch-gone@rgz.bj');
    const withCc = await sendOk(t, raw({ to: ['b1@rgz.bj', 'b2@rgz.bj'], cc: 'batch-gone@rgz.bj, batch-ok@rgz.bj' }));
    const withBcc = await sendOk(t, raw({ to: 'b3@rgz.bj', bcc: 'batch-gone@rgz.bj' }));
    const plain = await sendOk(t, raw({ to: ['b4@rgz.bj', 'b5@rgz.bj'] }));
    const rows = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', 'in', [...withCc, ...withBcc, ...plain])
      .execute();
    const recorded = recordStatements(t.services.db);
    const gate = new SuppressedRecipients(recorded.db, []);
    // A batch without cc or bcc is asked about too (its to may have been suppressed since accept).
    const plainRows = rows.filter((r) => plain.includes(r.id));
    await gate.prefetch(plainRows);
    expect(recorded.statements).toHaveLength(1);
    for (const m of plainRows) expect((await gate.judge(m))(m.recipient_email)).toBeUndefined();
    expect(recorded.statements).toHaveLength(1);

    await gate.prefetch(rows);
    expect(recorded.statements).toHaveLength(2);
    for (const m of rows) {
      const verdict = await gate.judge(m);
      const stopped = ['batch-gone@rgz.bj', 'batch-ok@rgz.bj'].filter((a) => verdict(a));
      expect(stopped).toEqual(plain.includes(m.id) ? [] : ['batch-gone@rgz.bj']);
    }
    expect(recorded.statements).toHaveLength(2);
    // A verdict serves one attempt: the next one (not read ahead) asks the list again, alone.
    const again = rows.find((r) => withBcc.includes(r.id))!;
    expect((await gate.judge(again))('batch-gone@rgz.bj')).toBe('Recipient is suppressed (manual)');
    expect(recorded.statements).toHaveLength(3);
  });
});
