import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { derive, parseOrdered } from '../scripts/update-caniemail.js';
import { readSupportData } from '../src/checks/caniemail.js';

/** caniemail's shape, small: versions listed oldest first, keys a plain JS object would reorder ("13" before "12.1"). */
const SOURCE = `{
  "api_version": "1.0.4",
  "last_update_date": "2026-05-13 14:45:41 +0000",
  "nicenames": {
    "family": { "gmail": "Gmail", "apple-mail": "Apple Mail", "outlook": "Outlook" },
    "platform": { "ios": "iOS", "windows": "Windows", "macos": "macOS", "desktop-webmail": "Desktop Webmail" }
  },
  "data": [
    {
      "slug": "html-svg",
      "title": "Embedded <svg> image",
      "url": "https://www.caniemail.com/features/html-svg/",
      "category": "html",
      "description": "dropped",
      "stats": {
        "apple-mail": { "ios": { "12.1": "n", "13": "y" }, "macos": { "12.4": "n", "13": "a #1" } },
        "gmail": { "desktop-webmail": { "2019-02": "y #2", "2020-02": "n" } },
        "outlook": { "macos": { "2011": "y", "2016": "y", "16.80": "n #3" } }
      },
      "notes_by_num": { "1": "Buggy.", "2": "Was once.", "3": "Not in new Outlook." }
    }
  ]
}`;

describe('scripts/update-caniemail.ts', () => {
  it('keeps the order of versions as caniemail lists them, so the latest is the last one written', () => {
    const parsed = parseOrdered('{"13": 1, "12.1": 2, "a": [true, null, -1.5e2, "x\\"y"]}') as Map<string, unknown>;
    expect([...parsed.keys()]).toEqual(['13', '12.1', 'a']);
    expect(parsed.get('a')).toEqual([true, null, -150, 'x"y']);
    expect(() => parseOrdered('{"a": 1,}')).toThrow(/caniemail data/);
  });

  it("derives each client's latest support with only the notes it refers to, the licence and the update date", () => {
    const file = JSON.parse(
      derive(SOURCE, 'fixture', { copyright: ['Copyright (c) 2019 HTeuMeuLeu'], text: 'MIT text' }),
    );
    expect(file).toMatchObject({
      license: 'MIT',
      copyright: ['Copyright (c) 2019 HTeuMeuLeu'],
      license_text: 'MIT text',
      last_update_date: '2026-05-13 14:45:41 +0000',
      clients: ['apple-mail.ios', 'apple-mail.macos', 'gmail.desktop-webmail', 'outlook.macos'],
    });
    expect(file.features).toEqual([
      {
        slug: 'html-svg',
        title: 'Embedded <svg> image',
        url: 'https://www.caniemail.com/features/html-svg/',
        category: 'html',
        support: 'y a#1 n n#3',
        notes: { '1': 'Buggy.', '3': 'Not in new Outlook.' },
      },
    ]);
    const svg = readSupportData(file).features.get('html-svg')!;
    expect(svg.clients).toEqual([
      { family: 'apple-mail', platform: 'ios', support: 'y', notes: [] },
      { family: 'apple-mail', platform: 'macos', support: 'a', notes: ['Buggy.'] },
      { family: 'gmail', platform: 'desktop-webmail', support: 'n', notes: [] },
      { family: 'outlook', platform: 'macos', support: 'n', notes: ['Not in new Outlook.'] },
    ]);
  });

  it('committed a data file the check can read, with its licence and date', () => {
    const file = JSON.parse(readFileSync('src/checks/caniemail.json', 'utf8'));
    const data = readSupportData(file);
    expect(file.license).toBe('MIT');
    expect(file.copyright.join(' ')).toContain('HTeuMeuLeu');
    expect(data.lastUpdate).toMatch(/^\d{4}-\d{2}-\d{2}/);
    expect(data.features.size).toBeGreaterThan(250);
    for (const slug of [
      'html-svg',
      'html-video',
      'css-display-flex',
      'css-position',
      'css-at-media-prefers-color-scheme',
    ])
      expect(data.features.get(slug)?.clients.length, slug).toBeGreaterThan(20);
  });
});
