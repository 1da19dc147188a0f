import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Instance,
  InstanceManager,
  LifecycleError,
  LifecycleNotifier,
  type Logger,
} from '../examples/saas-lifecycle/index.js';
import { startWorker } from '../src/delivery/start.js';
import { PostierClient } from '../packages/client/src/index.js';
import { ADMIN_TOKEN, backends, createTestContext, type TestContext } from './helpers/context.js';
import { closedPortUrl, listen, silentServer } from './helpers/http.js';
import { SmtpSink } from './support/smtp-sink.js';

const FIXED_NOW = new Date('2026-11-25T14:40:00Z');
const customer = { name: 'Aminata Houngbédji', email: 'aminata@techconnect.bj', locale: 'fr' as const };
const admin = { name: 'ops', isAdmin: true };

function collectingLog() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const log: Logger = {
    info: (obj, msg) => void lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
  return { log, lines };
}

function manager(baseUrl: string, token: string, timeoutMs: number, log: Logger) {
  const client = new PostierClient({ baseUrl, token, timeoutMs });
  return new InstanceManager({
    notifier: new LifecycleNotifier(client, log),
    servers: [{ name: 'srv-1', capacity: 10 }],
    baseDomain: 'cloud.rgz.bj',
    templateDatabase: 'saas_template_v17',
    now: () => FIXED_NOW,
  });
}

describe.each(backends)('SaaS instance lifecycle against a real Postier on %s', (backend) => {
  let t: TestContext;
  let inbox: SmtpSink;
  let url: string;
  let archive: PostierClient;
  let m: InstanceManager;
  const { log, lines } = collectingLog();

  beforeAll(async () => {
    inbox = await SmtpSink.start();
    t = await createTestContext(backend, inbox.env({ EMAIL_TIMEZONE: 'UTC' }));
    url = await listen(t);
    const { token } = await t.services.apiKeys.create('saas-manager', 'send', 'test');
    archive = new PostierClient({ baseUrl: url, token: ADMIN_TOKEN });
    m = manager(url, token, 3000, log);
  });
  afterAll(async () => {
    await t.close();
    await inbox.close();
  });

  const mailOf = async (i: Instance, template: string) => {
    const rec = i.emails.find((e) => e.template === template);
    expect(rec, `${template} accepted by Postier`).toBeDefined();
    const msg = await archive.getMessage(rec!.message_ids[0]!);
    expect(msg.to).toBe(customer.email);
    expect(msg.template_key).toBe(template);
    return msg;
  };

  let https: Instance;
  let httpsPassword: string;

  it('Scenario 1: provisioning makes the instance active and mails the access details', async () => {
    // Given a SaaS template exists and a customer has an email; When I create and provision an instance
    const { instance, password } = await m.provision({
      name: 'techconnect-erp',
      customer,
      plan: 'Business',
      protocol: 'https',
    });
    https = instance;
    httpsPassword = password;
    // Then the instance is active
    expect(instance.state).toBe('active');
    expect(instance.email_failures).toEqual([]);
    // And a mail to the customer contains the access details
    const msg = await mailOf(instance, 'instance_provisioned');
    expect(msg.text_content).toContain('https://techconnect-erp.cloud.rgz.bj');
    expect(msg.text_content).toContain(`Identifiant : ${customer.email}`);
    expect(msg.text_content).toContain('Business');
    expect(msg.html_content).toContain('href="https://techconnect-erp.cloud.rgz.bj"');
    expect(password).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('Scenario 2: suspending makes the instance suspended and mails the suspension', async () => {
    const instance = await m.suspend(https.id, 'Facture impayée');
    expect(instance.state).toBe('suspended');
    const msg = await mailOf(instance, 'instance_suspended');
    expect(msg.text_content).toContain('Facture impayée');
    expect(msg.text_content).toContain('25 novembre 2026 à 14:40');
  });

  it('Scenario 3: reactivating makes the instance active and mails the date, time and right protocol link', async () => {
    const instance = await m.reactivate(https.id);
    expect(instance.state).toBe('active');
    const msg = await mailOf(instance, 'instance_reactivated');
    expect(msg.text_content).toContain('25 novembre 2026 à 14:40');
    expect(msg.html_content).toContain('href="https://techconnect-erp.cloud.rgz.bj"');

    // An instance served over plain http gets http links, not https ones.
    const { instance: plain } = await m.provision({ name: 'intranet-rh', customer, plan: 'Starter', protocol: 'http' });
    await m.suspend(plain.id, 'Maintenance');
    await m.reactivate(plain.id);
    const plainMsg = await mailOf(plain, 'instance_reactivated');
    expect(plainMsg.html_content).toContain('href="http://intranet-rh.cloud.rgz.bj"');
    expect(plainMsg.html_content).not.toContain('https://intranet-rh');
  });

  it('Scenario 4: only an admin terminates; the database is deleted and the mail names it', async () => {
    await expect(m.terminate(https.id, { name: 'support', isAdmin: false })).rejects.toBeInstanceOf(LifecycleError);
    expect(m.get(https.id).state).toBe('active');
    expect(m.get(https.id).emails.some((e) => e.template === 'instance_terminated')).toBe(false);

    const instance = await m.terminate(https.id, admin);
    expect(instance.state).toBe('terminated');
    expect(instance.database_deleted_at).not.toBeNull();
    const msg = await mailOf(instance, 'instance_terminated');
    expect(msg.text_content).toContain('Base de données supprimée : techconnect_erp');
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  describe('mail received over SMTP', () => {
    it('delivers the lifecycle mails with the access details, protocol links and reactivation date', async () => {
      const w = startWorker(t.services, { host: '127.0.0.1', port: inbox.port, plain: true });
      try {
        // 4 mails for techconnect-erp (provisioned, suspended, reactivated, terminated) + 3 for intranet-rh.
        await inbox.waitForAccepted(7, 20_000);
        const mails = await inbox.parseAccepted();
        const provisioned = mails.find((x) => /est prête/.test(x.subject ?? '') && x.text?.includes('techconnect-erp'));
        // The customer receives the clear password even though the archive masks it.
        expect(provisioned?.text).toContain(`Mot de passe : ${httpsPassword}`);
        expect(provisioned?.text).toContain(`Identifiant : ${customer.email}`);
        expect(provisioned?.html).toContain('href="https://techconnect-erp.cloud.rgz.bj"');
        const reactivated = mails.find((x) => x.text?.includes('réactivée') && x.text.includes('techconnect-erp'));
        expect(reactivated?.text).toContain('25 novembre 2026 à 14:40');
        expect(reactivated?.html).toContain('href="https://techconnect-erp.cloud.rgz.bj"');
        expect(mails.some((x) => x.text?.includes('techconnect_erp'))).toBe(true);
      } finally {
        await w.stop();
      }
    });
  });
});

describe('SaaS lifecycle when Postier is down, hanging or refusing', () => {
  const runAll = async (m: InstanceManager) => {
    const started = Date.now();
    const { instance, password } = await m.provision({ name: 'resilient-erp', customer, plan: 'Business' });
    expect(instance.state).toBe('active');
    expect((await m.suspend(instance.id, 'Facture impayée')).state).toBe('suspended');
    expect((await m.reactivate(instance.id)).state).toBe('active');
    expect((await m.terminate(instance.id, admin)).state).toBe('terminated');
    expect(instance.database_deleted_at).not.toBeNull();
    return { instance, password, elapsed: Date.now() - started };
  };
  const templates = ['instance_provisioned', 'instance_suspended', 'instance_reactivated', 'instance_terminated'];

  it('completes every transition when Postier is stopped (closed port), recording each failure', async () => {
    const { log, lines } = collectingLog();
    const { instance, elapsed } = await runAll(manager(await closedPortUrl(), 'any', 300, log));
    expect(elapsed).toBeLessThan(3000);
    expect(instance.emails).toEqual([]);
    expect(instance.email_failures.map((f) => [f.template, f.code])).toEqual(
      templates.map((tpl) => [tpl, 'network_error']),
    );
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(4);
  });

  it('completes every transition quickly when Postier accepts connections but never answers', async () => {
    const silent = await silentServer();
    try {
      const { log } = collectingLog();
      const { instance, elapsed } = await runAll(manager(silent.url, 'any', 300, log));
      // Four sends, each bounded by the 300 ms timeout.
      expect(elapsed).toBeLessThan(4 * 300 + 1500);
      expect(instance.email_failures.map((f) => f.code)).toEqual(['timeout', 'timeout', 'timeout', 'timeout']);
    } finally {
      await silent.close();
    }
  });

  it('completes every transition when Postier refuses the mail (revoked key), recording the API error', async () => {
    const t = await createTestContext('sqlite');
    try {
      const url = await listen(t);
      const { log, lines } = collectingLog();
      const { instance, password } = await runAll(manager(url, 'pst_revoked_or_wrong_token', 2000, log));
      expect(instance.email_failures.map((f) => f.code)).toEqual([
        'unauthorized',
        'unauthorized',
        'unauthorized',
        'unauthorized',
      ]);
      // The provisioning password never reaches the log.
      expect(JSON.stringify(lines)).not.toContain(password);
      expect(lines.filter((l) => l.level === 'warn').map((l) => l.obj.template)).toEqual(templates);
    } finally {
      await t.close();
    }
  });
});
