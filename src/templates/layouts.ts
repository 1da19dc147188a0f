import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** A layout wraps a template body: `{{ content | raw }}` in html.liquid, `{{ content }}` in text.liquid. */
export interface Layout {
  name: string;
  html: string;
  text: string | null;
}

export function readLayouts(root: string): Map<string, Layout> {
  const layouts = new Map<string, Layout>();
  if (!existsSync(root)) return layouts;
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const html = path.join(root, e.name, 'html.liquid');
    if (!e.isDirectory() || !existsSync(html)) continue;
    const text = path.join(root, e.name, 'text.liquid');
    layouts.set(e.name, {
      name: e.name,
      html: readFileSync(html, 'utf8'),
      text: existsSync(text) ? readFileSync(text, 'utf8') : null,
    });
  }
  return layouts;
}
