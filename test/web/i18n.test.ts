import { describe, expect, it } from 'vitest';
import { dictionaries, pickLang, translate } from '../../web/src/i18n/index.js';

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
});
