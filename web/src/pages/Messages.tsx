import { type FormEvent, useState } from 'react';
import { api } from '../api.js';
import { MESSAGE_STATUSES, type MessageFilter, type MessageStatus } from '../api-types.js';
import { Async } from '../components/Async.js';
import { MessageTable } from '../components/MessageTable.js';
import { Pager } from '../components/Pager.js';
import { useI18n } from '../i18n/context.js';
import { dayEndIso, dayStartIso, formatNumber } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';
import { navigate, useLocation } from '../router.js';

const FIELDS = ['to', 'status', 'template_key', 'category', 'since', 'until'] as const;
type Fields = Record<(typeof FIELDS)[number], string>;
const PAGE_SIZE = 50;

/** The audit: filters live in the URL, so a search can be shared and survives a reload. */
export function Messages() {
  const { t, lang } = useI18n();
  const { query } = useLocation();
  const applied = Object.fromEntries(FIELDS.map((f) => [f, query.get(f) ?? ''])) as Fields;
  const cursor = query.get('cursor') ?? undefined;
  const [form, setForm] = useState<Fields>(applied);
  const templates = useAsync(() => api.templates(), []);

  const filter: MessageFilter = {
    to: applied.to,
    status: applied.status as MessageStatus | '',
    template_key: applied.template_key,
    category: applied.category,
    since: applied.since ? dayStartIso(applied.since) : undefined,
    until: applied.until ? dayEndIso(applied.until) : undefined,
    cursor,
    limit: PAGE_SIZE,
  };
  const list = useAsync(() => api.messages(filter), [query.toString()]);

  const go = (f: Fields, nextCursor?: string) => {
    const qs = new URLSearchParams();
    for (const k of FIELDS) if (f[k].trim()) qs.set(k, f[k].trim());
    if (nextCursor) qs.set('cursor', nextCursor);
    navigate(`/messages${qs.size ? `?${qs}` : ''}`);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    go(form);
  };
  const set = (k: keyof Fields) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const categories = [...new Set((templates.data?.items ?? []).map((x) => x.category))].sort();

  return (
    <section>
      <h1>{t('nav.messages')}</h1>
      <form className="filters card" onSubmit={submit} role="search" aria-label={t('messages.filters')}>
        <label className="field">
          <span>{t('common.recipient')}</span>
          <input type="email" value={form.to} onChange={set('to')} placeholder="name@example.com" name="to" />
        </label>
        <label className="field">
          <span>{t('common.status')}</span>
          <select value={form.status} onChange={set('status')} name="status">
            <option value="">{t('common.any')}</option>
            {MESSAGE_STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t('common.template')}</span>
          <select value={form.template_key} onChange={set('template_key')} name="template_key">
            <option value="">{t('common.any')}</option>
            {(templates.data?.items ?? []).map((x) => (
              <option key={x.key} value={x.key}>
                {x.key}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t('common.category')}</span>
          <select value={form.category} onChange={set('category')} name="category">
            <option value="">{t('common.any')}</option>
            {categories.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t('messages.since')}</span>
          <input type="date" value={form.since} onChange={set('since')} name="since" />
        </label>
        <label className="field">
          <span>{t('messages.until')}</span>
          <input type="date" value={form.until} onChange={set('until')} name="until" />
        </label>
        <div className="filter-actions">
          <button type="submit" className="primary">
            {t('common.search')}
          </button>
          <button
            type="button"
            className="ghost"
            onClick={() => {
              const empty = Object.fromEntries(FIELDS.map((f) => [f, ''])) as Fields;
              setForm(empty);
              go(empty);
            }}
          >
            {t('common.reset')}
          </button>
        </div>
      </form>
      <Async state={list}>
        {(page) => (
          <div className="card flush">
            <p className="list-meta" aria-live="polite">
              {t('messages.count', { n: formatNumber(page.total, lang), count: page.total })}
            </p>
            <MessageTable items={page.items} />
            <Pager onFirst={cursor ? () => go(applied) : undefined} onNext={page.next_cursor ? () => go(applied, page.next_cursor!) : undefined} />
          </div>
        )}
      </Async>
    </section>
  );
}
