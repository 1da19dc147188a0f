import { en } from './en.js';
import { fr } from './fr.js';

export type Lang = 'en' | 'fr';
export type MsgKey = keyof typeof en;
export type Dictionary = Record<MsgKey, string>;
export type Vars = Record<string, string | number>;

export const LANGS: Lang[] = ['en', 'fr'];
export const dictionaries: Record<Lang, Dictionary> = { en, fr };

/**
 * The text for `key` in `lang`, `{name}` placeholders filled; English, then the key, as fallbacks.
 * With a numeric `count`, the singular form `key.one` is used where the language says so
 * (English: 1; French: 0 and 1).
 */
export function translate(lang: Lang, key: MsgKey, vars?: Vars): string {
  if (typeof vars?.count === 'number' && new Intl.PluralRules(lang).select(vars.count) === 'one') {
    const one = `${key}.one`;
    if (one in dictionaries.en) key = one as MsgKey;
  }
  const text = dictionaries[lang][key] ?? dictionaries.en[key] ?? key;
  return vars
    ? text.replace(/\{(\w+)\}/g, (m, name: string) => (vars[name] === undefined ? m : String(vars[name])))
    : text;
}

/** Keys built at run time (`event.${type}`) are checked before use. */
export const hasKey = (key: string): key is MsgKey => key in dictionaries.en;

/** The stored choice if valid, else the browser's first supported language, else English. */
export function pickLang(stored: string | null, browser: readonly string[]): Lang {
  if (stored === 'en' || stored === 'fr') return stored;
  for (const l of browser) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'en' || base === 'fr') return base;
  }
  return 'en';
}
