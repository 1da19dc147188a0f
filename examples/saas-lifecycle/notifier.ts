import { PostierClient, PostierError } from '../../packages/client/src/index.js';
import type { Instance } from './instance.js';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Sends lifecycle mail the way the document's `send_mail(force_send=True, raise_exception=False)`
 * does: try now, with a short timeout, and never throw. A failure (Postier down, slow, or
 * refusing) is recorded on the instance and logged; the transition that asked goes on.
 */
export class LifecycleNotifier {
  constructor(
    private readonly client: PostierClient,
    private readonly log: Logger,
  ) {}

  async notify(instance: Instance, template: string, variables: Record<string, unknown>, now: Date): Promise<void> {
    const at = now.toISOString();
    try {
      const { items } = await this.client.send(
        { to: instance.customer.email, template_key: template, variables, locale: instance.customer.locale ?? 'fr' },
        // One key per instance and transition: a retry by hand cannot mail the customer twice.
        { idempotencyKey: `${instance.id}:${template}:${instance.state_changed_at}` },
      );
      instance.emails.push({ template, at, message_ids: items.map((i) => i.id) });
      this.log.info({ instance: instance.id, template, message_ids: items.map((i) => i.id) }, 'lifecycle email accepted');
    } catch (e) {
      const code = e instanceof PostierError ? e.code : 'error';
      const message = e instanceof Error ? e.message : String(e);
      instance.email_failures.push({ template, at, code, message });
      // No variables in the log line: the provisioning mail carries a password.
      this.log.warn({ instance: instance.id, template, code, message }, 'lifecycle email not sent; transition continues');
    }
  }
}
