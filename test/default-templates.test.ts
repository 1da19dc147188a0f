import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { defaultTemplates, invoiceExample } from './helpers/fixtures.js';

const SPEC_RETRIES: Record<string, number> = {
  billing_invoice_monthly: 3,
  incident_alert_critical: 5,
  onboarding_welcome: 2,
  onboarding_approved: 2,
  cutover_reminder: 1,
  rma_confirmation: 2,
  sla_credit_notification: 2,
  support_ticket_created: 2,
  instance_provisioned: 3,
  instance_suspended: 3,
  instance_reactivated: 3,
  instance_terminated: 3,
};

describe.each(backends)('default templates on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  it('seeds the eight templates of the specification and the four lifecycle emails, at version 1', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/v1/email/templates' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.total).toBe(12);
    expect(body.items.map((i: { key: string }) => i.key).sort()).toEqual(Object.keys(SPEC_RETRIES).sort());
    for (const item of body.items) {
      expect(item).toMatchObject({ version: 1, subject: expect.any(String), category: expect.any(String) });
      expect(item.subject.length).toBeGreaterThan(0);
    }
  });

  it('gives each template the retry count of the specification', async () => {
    for (const [key, attempts] of Object.entries(SPEC_RETRIES)) {
      const tpl = (await t.inject({ method: 'GET', url: `/api/v1/email/templates/${key}` })).json();
      expect(tpl.max_attempts, key).toBe(attempts);
      expect(tpl.version).toBe(1);
      expect(tpl.required_variables.length).toBeGreaterThan(0);
      expect(tpl.text_content).toBeTruthy();
    }
  });

  it('makes the incident alert urgent and the cutover reminder marketing-class', async () => {
    const incident = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/incident_alert_critical' })).json();
    expect(incident.priority).toBe('urgent');
    const cutover = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/cutover_reminder' })).json();
    expect(cutover.class).toBe('marketing');
    const provisioned = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/instance_provisioned' })).json();
    expect(provisioned.sensitive_variables).toEqual(['password']);
  });

  it.each(defaultTemplates.map((d) => [d.key, d] as const))(
    'renders %s with its example variables',
    async (key, def) => {
      const payload =
        key === 'billing_invoice_monthly'
          ? invoiceExample()
          : { to: 'client@example.com', template_key: key, variables: def.sample_variables };
      const res = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload });
      expect(res.statusCode, res.body).toBe(201);
      const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${res.json().items[0].id}` })).json();
      for (const part of [msg.subject, msg.html_content, msg.text_content]) {
        expect(part).not.toMatch(/\{\{|\{%|undefined|\[object Object\]|\[LIEN|\[BARRE/);
      }
      expect(msg.html_content).toMatch(/^<!DOCTYPE html>/i);
      // Every string variable shows up in the text part (the password is masked by design).
      for (const [name, value] of Object.entries(def.sample_variables)) {
        if (typeof value === 'string' && !def.sensitive_variables.includes(name))
          expect(msg.text_content, `${key}.${name}`).toContain(value.split('\n')[0]);
      }
    },
  );

  it('turns [BARRE PROGRESS] into a real progress bar from items_done/items_total', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        to: 'r@example.com',
        template_key: 'cutover_reminder',
        variables: { reseller_name: 'TC', items_done: 10, items_total: 40, link_portal: 'https://p.example' },
      },
    });
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${res.json().items[0].id}` })).json();
    expect(msg.text_content).toContain('[█████░░░░░░░░░░░░░░░] 25 %');
    expect(msg.html_content).toMatch(/width="25%"/);
    expect(msg.text_content).toContain('https://p.example/cutover');
  });

  it('builds the access URL of a provisioned instance from protocol and domain', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        to: 'client@example.com',
        template_key: 'instance_provisioned',
        variables: {
          customer_name: 'ACME',
          instance_name: 'acme',
          protocol: 'https',
          domain: 'acme.saas.example',
          login: 'admin@acme.example',
          password: 'S3cret!',
          plan: 'Pro',
        },
      },
    });
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${res.json().items[0].id}` })).json();
    expect(msg.html_content).toContain('href="https://acme.saas.example"');
    expect(msg.text_content).toContain('https://acme.saas.example');
    expect(msg.text_content).toContain('admin@acme.example');
    expect(msg.text_content).toContain('Pro');
  });

  it('sends the English variant when asked, and French otherwise', async () => {
    const vars = defaultTemplates.find((d) => d.key === 'instance_suspended')!.sample_variables;
    const en = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'c@example.com', template_key: 'instance_suspended', variables: vars, locale: 'en' },
    });
    const fr = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'c@example.com', template_key: 'instance_suspended', variables: vars },
    });
    const enMsg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${en.json().items[0].id}` })).json();
    const frMsg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${fr.json().items[0].id}` })).json();
    expect(enMsg.locale).toBe('en');
    expect(enMsg.subject).toMatch(/suspended/);
    expect(frMsg.locale).toBe('fr');
    expect(frMsg.subject).toMatch(/suspendue/);
  });
});
