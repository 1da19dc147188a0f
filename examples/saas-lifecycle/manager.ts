import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { LifecycleNotifier } from './notifier.js';
import { type Customer, type Instance, LifecycleError, type Protocol } from './instance.js';

export interface Server {
  name: string;
  capacity: number;
}

export interface ManagerOptions {
  notifier: LifecycleNotifier;
  /** Where instances run; provisioning picks the first with room left. */
  servers: Server[];
  baseDomain: string;
  /** The SaaS template database that new instances are cloned from. */
  templateDatabase: string;
  timeZone?: string;
  now?: () => Date;
}

export interface Actor {
  name: string;
  isAdmin: boolean;
}

const NAME = /^[a-z][a-z0-9-]{1,40}[a-z0-9]$/;
const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;

/**
 * The instance lifecycle of the SaaS document: provision, suspend, reactivate, terminate. Each
 * transition validates, does its work, writes the new state, and only then mails the customer;
 * the mail cannot undo or delay the transition beyond the notifier's short timeout.
 */
export class InstanceManager {
  private readonly instances = new Map<string, Instance>();

  constructor(private readonly opts: ManagerOptions) {}

  get(id: string): Instance {
    const i = this.instances.get(id);
    if (!i) throw new LifecycleError('not_found', `No instance ${id}`);
    return i;
  }

  /** Returns the clear admin password once, so an operator can hand it over if the mail failed. */
  async provision(input: { name: string; customer: Customer; plan: string; protocol?: Protocol }): Promise<{ instance: Instance; password: string }> {
    // validates server & capacity
    if (!NAME.test(input.name)) throw new LifecycleError('invalid_input', `Invalid instance name ${JSON.stringify(input.name)}: a-z, 0-9 and -`);
    if (!EMAIL.test(input.customer.email ?? '')) throw new LifecycleError('invalid_input', 'The customer needs an email address');
    if ([...this.instances.values()].some((i) => i.name === input.name && i.state !== 'terminated')) {
      throw new LifecycleError('invalid_state', `An instance named ${input.name} exists`);
    }
    const server = this.opts.servers.find((s) => this.load(s.name) < s.capacity);
    if (!server) throw new LifecycleError('no_capacity', 'No server has room for a new instance');

    const now = this.now();
    const password = randomBytes(12).toString('base64url');
    const instance: Instance = {
      id: randomUUID(),
      name: input.name,
      customer: input.customer,
      plan: input.plan,
      protocol: input.protocol ?? 'https',
      server: server.name,
      // _clone_template_database, _neutralize_database, _customize_instance: here, a record.
      database_name: `${input.name.replace(/-/g, '_')}`,
      domain: `${input.name}.${this.opts.baseDomain}`, // _configure_subdomain
      admin_login: input.customer.email, // _create_client_admin
      admin_password_hash: createHash('sha256').update(password).digest('hex'),
      state: 'active',
      database_deleted_at: null,
      state_changed_at: now.toISOString(),
      emails: [],
      email_failures: [],
    };
    this.instances.set(instance.id, instance);

    await this.opts.notifier.notify(
      instance,
      'instance_provisioned',
      {
        customer_name: instance.customer.name,
        instance_name: instance.name,
        protocol: instance.protocol,
        domain: instance.domain,
        login: instance.admin_login,
        password,
        plan: instance.plan,
      },
      now,
    );
    return { instance, password };
  }

  async suspend(id: string, reason: string): Promise<Instance> {
    const instance = this.transition(id, 'active', 'suspended');
    await this.opts.notifier.notify(
      instance,
      'instance_suspended',
      { customer_name: instance.customer.name, instance_name: instance.name, domain: instance.domain, suspended_at: this.format(instance), reason },
      new Date(instance.state_changed_at),
    );
    return instance;
  }

  async reactivate(id: string): Promise<Instance> {
    const instance = this.transition(id, 'suspended', 'active');
    await this.opts.notifier.notify(
      instance,
      'instance_reactivated',
      {
        customer_name: instance.customer.name,
        instance_name: instance.name,
        protocol: instance.protocol,
        domain: instance.domain,
        reactivated_at: this.format(instance),
      },
      new Date(instance.state_changed_at),
    );
    return instance;
  }

  /** Admin only; "delete the database" is irreversible, so it happens before the state changes. */
  async terminate(id: string, actor: Actor): Promise<Instance> {
    if (!actor.isAdmin) throw new LifecycleError('forbidden', `${actor.name} is not a SaaS admin: only an admin can terminate an instance`);
    const current = this.get(id);
    if (current.state === 'terminated') throw new LifecycleError('invalid_state', `Instance ${current.name} is already terminated`);
    current.database_deleted_at = this.now().toISOString(); // _delete_database
    const instance = this.transition(id, current.state, 'terminated');
    await this.opts.notifier.notify(
      instance,
      'instance_terminated',
      { customer_name: instance.customer.name, instance_name: instance.name, database_name: instance.database_name, terminated_at: this.format(instance) },
      new Date(instance.state_changed_at),
    );
    return instance;
  }

  private transition(id: string, from: Instance['state'], to: Instance['state']): Instance {
    const instance = this.get(id);
    if (instance.state !== from) throw new LifecycleError('invalid_state', `Instance ${instance.name} is ${instance.state}, not ${from}`);
    instance.state = to;
    instance.state_changed_at = this.now().toISOString();
    return instance;
  }

  private load(server: string): number {
    return [...this.instances.values()].filter((i) => i.server === server && i.state !== 'terminated').length;
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** "25 novembre 2026 à 14:40" in French, "25 November 2026 at 14:40" in English. */
  private format(instance: Instance): string {
    return new Intl.DateTimeFormat(instance.customer.locale ?? 'fr', {
      dateStyle: 'long',
      timeStyle: 'short',
      timeZone: this.opts.timeZone ?? 'UTC',
    }).format(new Date(instance.state_changed_at));
  }
}
