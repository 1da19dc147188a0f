import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MESSAGE_STATUSES, WEBHOOK_EVENT_TYPES } from '../../web/src/api-types.js';
import { dictionaries, hasKey, pickLang, translate } from '../../web/src/i18n/index.js';

/** Every `src/` file, for the event types the server records. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('UI dictionary', () => {
  it('fills {placeholders} and leaves unknown ones visible', () => {
    expect(translate('en', 'messages.count', { n: 12 })).toBe('12 messages');
    expect(translate('fr', 'editor.errorAt', { line: 3, column: 7 })).toBe('Ligne 3, colonne 7 : ');
    expect(translate('en', 'editor.errorAt', { line: 3 })).toBe('Line 3, column {column}: ');
  });

  it('has every English text in French too, none empty, with the same placeholders', () => {
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [key, text] of Object.entries(dictionaries.en)) {
      const fr = dictionaries.fr[key as keyof typeof dictionaries.fr];
      expect(fr, key).toBeTruthy();
      expect(placeholders(fr), key).toEqual(placeholders(text));
    }
  });

  it('uses the remembered language, else the browser language, else English', () => {
    expect(pickLang('fr', ['en-US'])).toBe('fr');
    expect(pickLang(null, ['fr-BJ', 'en'])).toBe('fr');
    expect(pickLang('de', ['de-DE', 'en-GB'])).toBe('en');
    expect(pickLang(null, ['es'])).toBe('en');
  });

  it('names every event type the server records, every status and every webhook event, in every language', () => {
    const recorded = new Set<string>();
    for (const file of sources(path.resolve('src'))) {
      const code = readFileSync(file, 'utf8');
      if (!/\.record\(|\bNewEvent\b/.test(code)) continue;
      // events.record(trx, [{ …, type: 'sent', … }]), or NewEvent objects built for it
      for (const m of code.matchAll(/\btype: '([a-z_]+)'/g)) recorded.add(m[1]!);
    }
    // Not literal where recorded: a message's status at acceptance (send.service.ts) and the retention events (scrub.ts).
    const types = [...recorded, ...MESSAGE_STATUSES, ...WEBHOOK_EVENT_TYPES, 'anonymized', 'erased'];
    expect(recorded.size).toBeGreaterThan(8);
    for (const type of types) {
      expect(hasKey(`event.${type}`), type).toBe(true);
      expect(dictionaries.fr[`event.${type}` as keyof typeof dictionaries.fr], type).toBeTruthy();
    }
    for (const s of [...MESSAGE_STATUSES, 'scheduled']) expect(hasKey(`status.${s}`), s).toBe(true);
  });
});
