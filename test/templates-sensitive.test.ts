import { statSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withBodies } from '../src/content/index.js';
import { ContentSeal, eraseSealedContent } from '../src/platform/crypto/sealed-content.js';
import { UnsealError } from '../src/platform/crypto/seal.js';
import { loadSecretKey } from '../src/platform/crypto/secret-key.js';
import type { MessageRow } from '../src/platform/db/schema.js';
import { createLogger } from '../src/platform/log.js';
import { MASK } from '../src/templates/sensitive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { newTemplate } from './helpers/templates.js';

const PASSWORD = 'Vq7#mR2p<Lw9z&';
const provisioned = {
  customer_name: 'Aminata Houngbédji',
  instance_name: 'techconnect-erp',
  protocol: 'https',
  domain: 'techconnect-erp.cloud.rgz.bj',
  login: 'admin@techconnect.bj',
  password: PASSWORD,
  plan: 'Business',
};
const escaped = 'Vq7#mR2p&lt;Lw9z&amp;';

describe.each(backends)('sensitive variables on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const send = async (body: object): Promise<MessageRow> => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'client@techconnect.bj', ...body },
    });
    expect(res.statusCode, res.body).toBe(201);
    const row = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', res.json().items[0].id)
      .executeTakeFirstOrThrow();
    // The archived bodies as readers see them (stored compressed in email_bodies).
    return (await withBodies(t.services.db, [row]))[0]!;
  };
  const everyColumn = (row: MessageRow) => JSON.stringify({ ...row, sealed_content: null });

  it('archives a masked rendering and seals the clear one for the recipient', async () => {
    const row = await send({ template_key: 'instance_provisioned', variables: provisioned });
    expect(everyColumn(row)).not.toContain('Vq7#mR2p');
    expect(row.html_content).toContain(`<td class="kv-value mono"`);
    expect(row.html_content).toContain(MASK);
    expect(row.text_content).toContain(`Mot de passe : ${MASK}`);
    expect(row.sealed_content).not.toBeNull();
    expect(Buffer.from(row.sealed_content!).toString('latin1')).not.toContain('Vq7#mR2p');

    const clear = t.services.seal.openSealedContent(row)!;
    expect(clear.text).toContain(`Mot de passe : ${PASSWORD}`);
    expect(clear.html).toContain(escaped);
    expect(clear.subject).toBe(row.subject);
    expect(t.services.seal.contentToDeliver(row)).toEqual(clear);
  });

  it('keeps the value out of the subject and of a text part generated from HTML', async () => {
    await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('s_subject', {
        subject: 'Code {{ code }} for {{ name }}',
        html_content: '<p>Your code: <b>{{ code | upcase }}</b>, twice: {{ code }}</p>',
        text_content: null,
        required_variables: ['code', 'name'],
        sensitive_variables: ['code'],
      }),
    });
    const row = await send({ template_key: 's_subject', variables: { code: 'abc-123-xyz', name: 'Ana' } });
    expect(everyColumn(row).toLowerCase()).not.toContain('abc-123-xyz');
    expect(row.subject).toBe(`Code ${MASK} for Ana`);
    expect(row.text_content).toContain(`Your code: ${MASK}`);
    const clear = t.services.seal.openSealedContent(row)!;
    expect(clear.subject).toBe('Code abc-123-xyz for Ana');
    expect(clear.text).toContain('Your code: ABC-123-XYZ, twice: abc-123-xyz');
  });

  it('masks a sensitive value that reaches the output through another variable', async () => {
    const row = await send({
      template_key: 'instance_provisioned',
      variables: { ...provisioned, plan: `Business (pw ${PASSWORD})` },
    });
    expect(everyColumn(row)).not.toContain('Vq7#mR2p');
  });

  it('stores no sealed content when the template has no sensitive variables, or when refused by policy', async () => {
    const row = await send({
      template_key: 'support_ticket_created',
      variables: { ticket_number: '1', title: 't', priority: 'p', support_link: 'https://s.example' },
    });
    expect(row.sealed_content).toBeNull();
    expect(t.services.seal.openSealedContent(row)).toBeNull();
    expect(t.services.seal.contentToDeliver(row)).toEqual({
      subject: row.subject,
      html: row.html_content,
      text: row.text_content,
    });

    // A message refused at accept time is never sent: its clear content has no reader.
    t.services.send.addPolicy({
      admit: async (_trx, recipient) =>
        recipient === 'refused@example.com' ? { status: 'suppressed', reason: 'test policy' } : { status: 'queued' },
    });
    const refused = await send({
      to: 'refused@example.com',
      template_key: 'instance_provisioned',
      variables: provisioned,
    });
    expect(refused.status).toBe('suppressed');
    expect(refused.sealed_content).toBeNull();
    expect(everyColumn(refused)).not.toContain('Vq7#mR2p');
  });

  it('erases the sealed content, leaving only the masked archive', async () => {
    const row = await send({ template_key: 'instance_provisioned', variables: provisioned });
    await eraseSealedContent(t.services.db, row.id);
    const [after] = await withBodies(t.services.db, [
      await t.services.db.selectFrom('email_messages').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow(),
    ]);
    expect(after!.sealed_content).toBeNull();
    expect(t.services.seal.openSealedContent(after!)).toBeNull();
    expect(after!.html_content).toContain(MASK);
    expect(JSON.stringify(after)).not.toContain('Vq7#mR2p');
  });

  it('does not open a sealed blob moved to another message, or with another key', async () => {
    const a = await send({ template_key: 'instance_provisioned', variables: provisioned });
    expect(() =>
      t.services.seal.openSealedContent({
        id: '00000000-0000-7000-8000-000000000000',
        sealed_content: a.sealed_content,
      }),
    ).toThrow(UnsealError);
    const other = new ContentSeal(Buffer.alloc(32, 7));
    expect(() => other.openSealedContent(a)).toThrow(/does not open with this key/);
  });

  it('masks test sends with `to` too, and the test render shows the clear value to the admin', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/instance_provisioned/test',
      payload: { variables: provisioned, to: 'editor@rgz.bj' },
    });
    expect(res.json().text).toContain(PASSWORD);
    const row = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', res.json().messages[0].id)
      .executeTakeFirstOrThrow();
    expect(everyColumn(row)).not.toContain('Vq7#mR2p');
    expect(row.is_test).toBe(1);
  });
});

describe('the secret key', () => {
  const log = createLogger('silent');

  it('is generated into the data folder once, mode 0600, and reused', async () => {
    const t = await createTestContext('sqlite');
    try {
      const file = path.join(t.config.dataDir, 'secret.key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const hex = readFileSync(file, 'utf8').trim();
      expect(hex).toMatch(/^[0-9a-f]{64}$/);
      expect(loadSecretKey(t.config, log).toString('hex')).toBe(hex);
      expect(readFileSync(file, 'utf8').trim()).toBe(hex);
    } finally {
      await t.close();
    }
  });

  it('comes from POSTIER_SECRET_KEY when set, and no file is written', async () => {
    const hex = 'ab'.repeat(32);
    const t = await createTestContext('sqlite', { POSTIER_SECRET_KEY: hex });
    try {
      expect(() => statSync(path.join(t.config.dataDir, 'secret.key'))).toThrow();
      expect(loadSecretKey(t.config, log).toString('hex')).toBe(hex);
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { to: 'c@example.com', template_key: 'instance_provisioned', variables: provisioned },
      });
      const row = await t.services.db
        .selectFrom('email_messages')
        .selectAll()
        .where('id', '=', res.json().items[0].id)
        .executeTakeFirstOrThrow();
      expect(new ContentSeal(Buffer.from(hex, 'hex')).openSealedContent(row)!.text).toContain(PASSWORD);
    } finally {
      await t.close();
    }
  });

  it('refuses a corrupt key file rather than sealing with a new key', async () => {
    const t = await createTestContext('sqlite');
    try {
      writeFileSync(path.join(t.config.dataDir, 'secret.key'), 'not hex\n');
      expect(() => loadSecretKey(t.config, log)).toThrow(/64 hex/);
    } finally {
      await t.close();
    }
  });
});
