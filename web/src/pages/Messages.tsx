import { type FormEvent, useEffect, useId, useState } from 'react';
import { ApiError, api } from '../api.js';
import { MESSAGE_STATUSES, type MessagePage } from '../api-types.js';
import { Async } from '../components/Async.js';
import { MessageTable } from '../components/MessageTable.js';
import { Pager } from '../components/Pager.js';
import { useI18n } from '../i18n/context.js';
import { dayStartIso, formatNumber } from '../lib/format.js';
import {
  emptyQuery,
  formatSearch,
  type Operator,
  parseSearch,
  planSearch,
  type SearchPlan,
  searchFromUrl,
  searchToUrl,
  withTerm,
} from '../lib/message-search.js';
import { useAsync } from '../lib/use-async.js';
import { navigate, useLocation } from '../router.js';

const PAGE_SIZE = 50;
/** A value typed in the box that the list does not offer stays selectable, so the field shows it. */
const withTyped = (options: string[], typed: string | undefined) =>
  typed && !options.includes(typed) ? [...options, typed] : options;

/** One page of results for a plan: the message list, or the one message a whole id names. */
async function runSearch(plan: SearchPlan, cursor: string | undefined): Promise<MessagePage> {
  if (plan.messageId) {
    try {
      return { items: [await api.message(plan.messageId)], total: 1, next_cursor: null };
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return { items: [], total: 0, next_cursor: null };
      throw e;
    }
  }
  return api.messages({ ...plan.filter, cursor, limit: PAGE_SIZE });
}

/**
 * The audit: one search box taking operators (to:, status:, template:…), and the common filters
 * as fields that edit the same box. The search lives in the URL, so it can be shared and
 * survives a reload.
 */
export function Messages() {
  const { t, lang } = useI18n();
  const { query } = useLocation();
  const applied = searchFromUrl(query);
  const cursor = query.get('cursor') ?? undefined;
  const [text, setText] = useState(() => formatSearch(applied));
  const hintId = useId();
  // Back and forward show the search of the page they land on.
  useEffect(() => setText(formatSearch(searchFromUrl(query))), [query.toString()]);
  const templates = useAsync(() => api.templates(), []);

  const plan = planSearch(applied, dayStartIso);
  const list = useAsync(() => runSearch(plan, cursor), [query.toString()]);

  const go = (text: string, nextCursor?: string) => {
    const qs = searchToUrl(parseSearch(text));
    if (nextCursor) qs.set('cursor', nextCursor);
    navigate(`/messages${qs.size ? `?${qs}` : ''}`);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    go(text);
  };
  const draft = parseSearch(text);
  const field = (op: Operator) => ({
    // Statuses are matched whatever their case: the list shows the one typed.
    value: op === 'status' ? (draft.terms.status ?? '').toLowerCase() : (draft.terms[op] ?? ''),
    onChange: (e: { target: { value: string } }) =>
      setText(formatSearch(withTerm(parseSearch(text), op, e.target.value))),
  });
  const categories = [...new Set((templates.data?.items ?? []).map((x) => x.category))].sort();

  return (
    <section>
      <h1>{t('nav.messages')}</h1>
      {/* biome-ignore lint/a11y/useSemanticElements: <form role="search"> is the widely supported landmark */}
      <form className="filters card" onSubmit={submit} role="search" aria-label={t('messages.filters')}>
        <label className="field search-box">
          <span>{t('messages.search')}</span>
          <input
            type="search"
            value={text}
            onChange={(e) => setText(e.target.value)}
            name="q"
            spellCheck={false}
            autoComplete="off"
            aria-describedby={hintId}
          />
        </label>
        <p id={hintId} className="muted small search-hint">
          {t('messages.searchHint')}
        </p>
        <label className="field">
          <span>{t('common.recipient')}</span>
          <input
            type="text"
            inputMode="email"
            {...field('to')}
            placeholder="name@example.com"
            name="to"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
        <label className="field">
          <span>{t('common.status')}</span>
          <select {...field('status')} name="status">
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
          <select {...field('template')} name="template">
            <option value="">{t('common.any')}</option>
            {withTyped(
              (templates.data?.items ?? []).map((x) => x.key),
              draft.terms.template,
            ).map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t('common.category')}</span>
          <select {...field('category')} name="category">
            <option value="">{t('common.any')}</option>
            {withTyped(categories, draft.terms.category).map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t('messages.since')}</span>
          <input type="date" {...field('after')} name="after" />
        </label>
        <label className="field">
          <span>{t('messages.until')}</span>
          <input type="date" {...field('before')} name="before" />
        </label>
        <div className="filter-actions">
          <button type="submit" className="primary">
            {t('common.search')}
          </button>
          <button
            type="button"
            className="ghost"
            onClick={() => {
              setText('');
              go(formatSearch(emptyQuery()));
            }}
          >
            {t('common.reset')}
          </button>
        </div>
      </form>
      {plan.invalid.length ? (
        <p className="note error" role="alert">
          {plan.invalid
            .map((i) => t(i.reason === 'status' ? 'messages.badStatus' : 'messages.badDate', { part: i.part }))
            .join(' ')}
        </p>
      ) : null}
      {plan.unsupported.length ? (
        <p className="note" role="status" data-testid="search-unsupported">
          {t('messages.unsupported', { list: plan.unsupported.join(' ') })}
        </p>
      ) : null}
      <Async state={list}>
        {(page) => (
          <div className="card flush">
            <p className="list-meta" aria-live="polite">
              {t('messages.count', { n: formatNumber(page.total, lang), count: page.total })}
            </p>
            <MessageTable items={page.items} />
            <Pager
              onFirst={cursor ? () => go(formatSearch(applied)) : undefined}
              onNext={page.next_cursor ? () => go(formatSearch(applied), page.next_cursor!) : undefined}
            />
          </div>
        )}
      </Async>
    </section>
  );
}
