import { describe, expect, it } from 'vitest';
import { type LocaleContent, readTemplatesDir } from '../src/templates/definition.js';
import { compileFast } from '../src/templates/fast-render.js';
import { readLayouts } from '../src/templates/layouts.js';
import { DEFAULT_TEMPLATES_DIR, LAYOUTS_DIR } from '../src/templates/paths.js';
import { compileTemplate, type RenderContext, renderTemplate } from '../src/templates/render.js';

/**
 * The direct renderer (src/templates/fast-render.ts) must give LiquidJS's output byte for byte,
 * or decline so that LiquidJS renders. Every case renders a template twice, compiled with and
 * without it, and compares the results, errors included.
 */

const defs = readTemplatesDir(DEFAULT_TEMPLATES_DIR);
const layouts = readLayouts(LAYOUTS_DIR);
const ctx = (over: Partial<RenderContext> = {}): RenderContext => ({
  locale: 'fr',
  timeZone: 'Africa/Porto-Novo',
  brand: { name: 'RGZ Access', logo_url: 'https://rgz.bj/logo.png', support_email: 'support@rgz.bj', website_url: '' },
  now: new Date('2026-12-02T10:00:00Z'),
  ...over,
});

/** The result of rendering, or the error a caller would see (its code and message). */
function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { error: err.code ?? 'thrown', message: err.message };
  }
}

function both(content: LocaleContent, variables: Record<string, unknown>, c: RenderContext, layout?: string) {
  const l = layout ? layouts.get(layout) : undefined;
  const fast = compileTemplate(content, l);
  const liquid = compileTemplate(content, l, { fastPath: false });
  return {
    fast,
    direct: outcome(() => renderTemplate(fast, variables, c)),
    liquid: outcome(() => renderTemplate(liquid, variables, c)),
  };
}

/** Values that need escaping, spaces LiquidJS trims, astral characters, numbers and booleans. */
const hostile = (name: string): unknown => {
  const pick = [...name].reduce((a, ch) => a + ch.charCodeAt(0), 0) % 5;
  return [`<b>"Ténor" & 'co'</b>`, '  \u00a0espaces\t\n', '𝒳 émoji 🎉 ß', 4821, true][pick];
};

describe('fast template rendering', () => {
  describe('the bundled templates', () => {
    const cases = defs.flatMap((def) =>
      Object.entries(def.locales).map(([locale, content]) => ({ def, locale, content })),
    );

    it.each(cases)('$def.key ($locale) renders as LiquidJS does', ({ def, locale, content }) => {
      const c = ctx({ locale });
      const vars = def.sample_variables;
      const sample = both(content, vars, c, def.layout ?? undefined);
      expect(sample.direct).toEqual(sample.liquid);
      expect(sample.direct).toHaveProperty('html');

      const odd = Object.fromEntries(Object.keys(vars).map((k) => [k, hostile(k)]));
      const withOdd = both(content, odd, c, def.layout ?? undefined);
      expect(withOdd.direct).toEqual(withOdd.liquid);

      // A required variable missing: the same 422 from either path.
      const [first] = Object.keys(vars);
      if (first) {
        const { [first]: _, ...rest } = vars;
        const missing = both(content, rest, c, def.layout ?? undefined);
        expect(missing.direct).toEqual(missing.liquid);
        expect(missing.direct).toMatchObject({ error: 'missing_variables' });
        // Previews are lenient: LiquidJS renders the gap.
        const lenient = both(content, rest, ctx({ locale, strict: false }), def.layout ?? undefined);
        expect(lenient.direct).toEqual(lenient.liquid);
      }
    });

    it('covers every bundled template but the one with arithmetic and a loop', () => {
      const slow = defs.flatMap((def) =>
        Object.entries(def.locales).flatMap(([locale, content]) => {
          const { fast } = both(content, def.sample_variables, ctx({ locale }), def.layout ?? undefined);
          return Object.entries(fast.fast)
            .filter(([, f]) => f === null)
            .map(([part]) => `${def.key}/${locale}/${part}`);
        }),
      );
      expect(slow).toEqual(['cutover_reminder/fr/html', 'cutover_reminder/fr/text']);
    });
  });

  describe('what it takes', () => {
    const text = (source: string, variables: Record<string, unknown>) => {
      const r = both({ subject: 's', html_content: '<p>x</p>', text_content: source }, variables, ctx());
      return { ...r, taken: r.fast.fast.text !== null };
    };

    it('applies whitespace control as LiquidJS does (greedy, both sides, blank-only text)', () => {
      const sources = [
        'a  {{- x }}  b',
        'a  {{ x -}}  \n\n b',
        'a \u00a0\u3000 {{- x -}} \t\r\n b',
        '{{- x -}}',
        '  \n{%- if y -%}\n  yes  \n{%- else -%}\n  no \n{%- endif -%}\n  ',
        '{{ x -}}   {{- x }}',
        '{{ x -}}\n\n{%- assign z = x -%}\n{{ z }}',
        'line\n{% if y %}\nkept\n{% endif %}\nend',
      ];
      for (const source of sources) {
        for (const y of [true, false, 'str', 0]) {
          const r = text(source, { x: 'X', y });
          expect(r.taken, source).toBe(true);
          expect(r.direct, source).toEqual(r.liquid);
        }
      }
    });

    it('compares, assigns and applies its filters as LiquidJS does', () => {
      const sources = [
        '{% if a == "fr" %}F{% else %}O{% endif %}',
        '{% if a != "" %}[{{ a }}]{% endif %}',
        "{% if n == 3 %}three{% endif %}{% if n != '3' %}not-the-string{% endif %}",
        '{% if a == b %}same{% else %}differ{% endif %}',
        '{% if obj.flag %}on{% else %}off{% endif %}',
        '{% assign lang = locale | downcase | slice: 0, 2 %}{{ lang }}',
        '{% assign t = a | upcase | slice: -3, 2 %}{{ t }}|{{ a | slice: 1 }}|{{ a | slice: -9, 4 }}|{{ a | slice: 99 }}',
        '{% assign a = "shadow" %}{{ a }}',
        '{% if a %}{% if n == 3 %}nested{% else %}inner-else{% endif %}{% else %}outer-else{% endif %}',
        '{{ obj.name }} {{ obj.deep.er }}',
        '{{ n }} {{ f }} {{ neg }} {{ big }}',
        '{{ missing | default: a }}|{{ vide | default: "e" }}|{{ nul | default: n }}|{{ no | default: 1 }}',
        '{{ zero | default: "z" }}|{{ obj.missing | default: "m" }}|{{ gone.deeper | default: a | upcase }}',
        '{% assign d = missing | default: a | slice: 0, 1 %}{{ d }}{% if missing %}x{% else %}y{% endif %}',
        // A quoted `}}` does not end an output, as LiquidJS reads it.
        '{{ a | default: "}}" }}{{ missing | default: "}}\'" }}',
      ];
      const scopes = [
        {
          a: 'fr',
          b: 'fr',
          n: 3,
          f: 1.5,
          neg: -0,
          big: 1e21,
          obj: { flag: true, name: 'Ö', deep: { er: 'e' } },
          vide: '',
          nul: null,
          no: false,
          zero: 0,
        },
        {
          a: '𝒳𝒴𝒵-Été',
          b: 'x',
          n: '3',
          f: 0,
          neg: -7,
          big: 2 ** 53,
          obj: { flag: false, name: '', deep: { er: 1 } },
          vide: 'full',
          nul: 'set',
          no: true,
          zero: 'z0',
        },
      ];
      for (const source of sources) {
        for (const scope of scopes) {
          const r = text(source, scope);
          expect(r.taken, source).toBe(true);
          expect(r.direct, source).toEqual(r.liquid);
        }
      }
    });

    it('escapes HTML output unless the last filter is raw', () => {
      const r = both(
        {
          subject: '{{ s }}',
          html_content: '<p title="{{ v }}">{{ v }} {{ v | raw }} {{ v | upcase }}</p>',
          text_content: '{{ v }}',
        },
        { v: `<a href='x'>&"amp"</a>`, s: 'Sujet' },
        ctx(),
      );
      expect(r.fast.fast.html).not.toBeNull();
      expect(r.direct).toEqual(r.liquid);
      expect((r.direct as { html: string }).html).toContain('&lt;a href=&#39;x&#39;&gt;&amp;&#34;amp&#34;&lt;/a&gt;');
    });

    it('declines what it does not implement, and LiquidJS renders it', () => {
      const declined = [
        '{% for i in xs %}{{ i }}{% endfor %}',
        '{% if a and b %}x{% endif %}',
        '{% if a %}x{% elsif b %}y{% endif %}',
        '{% unless a %}x{% endunless %}',
        '{{ a | date: "%Y" }}',
        '{{ a | raw | upcase }}',
        '{{ xs[0] }}',
        '{{ xs.size }}',
        '{{ xs.first }}',
        '{{ nil }}',
        '{% raw %}{{ a }}{% endraw %}',
        '{% comment %}x{% endcomment %}',
        '{% if a == "q\\"uote" %}x{% endif %}',
        '{{ a | slice: 1.5 }}',
        '{% capture c %}x{% endcapture %}{{ c }}',
        '{{ a | upcase | default: "d" }}',
        '{{ a | default: "d", allow_false: true }}',
        '{{ missing | default: "q\\"}}" }}',
      ];
      for (const source of declined) {
        expect(compileFast(source, false), source).toBeNull();
        const r = text(source, { a: 'A', b: 'B', xs: ['p', 'q'] });
        expect(r.direct, source).toEqual(r.liquid);
      }
    });

    it('hands values it does not render to LiquidJS, which gives its own output or error', () => {
      const source = '[{{ v }}]';
      const values = [null, ['p', 'q'], { k: 1 }, Number.NaN, () => 'called', undefined];
      for (const v of values) {
        const r = text(source, { v });
        expect(r.taken).toBe(true);
        expect(compileFast(source, false)!.render({ v })).toBeUndefined();
        expect(r.direct).toEqual(r.liquid);
      }
      // Own properties only, as LiquidJS is configured: inherited names are not variables.
      for (const path of ['constructor', 'obj.toString', 'obj.missing']) {
        const r = text(`{{ ${path} }}`, { obj: {} });
        expect(r.direct, path).toEqual(r.liquid);
        expect(r.direct, path).toMatchObject({ error: 'missing_variables' });
      }
      // A string's own `length` is read by LiquidJS: handed over, it gives 3.
      const length = text('{{ s.length }}', { s: 'abc' });
      expect(length.direct).toEqual(length.liquid);
      expect(length.direct).toMatchObject({ text: '3' });
      // `default` before LiquidJS: a missing argument is its error even when the value is there.
      for (const [source, scope] of [
        ['{{ a | default: nothere }}', { a: 'A' }],
        ['{{ xs | default: "d" }}', { xs: [] }],
        ['{{ xs | default: "d" }}', { xs: ['p'] }],
        ['{{ s.length | default: "d" }}', { s: 'abc' }],
      ] as const) {
        const r = text(source, scope);
        expect(compileFast(source, false)!.render(scope)).toBeUndefined();
        expect(r.direct, source).toEqual(r.liquid);
      }
      const own = text('{{ constructor }}', JSON.parse('{"constructor":"own"}'));
      expect(own.direct).toEqual(own.liquid);
    });

    it('matches LiquidJS on generated templates', () => {
      // A small deterministic generator: text with spaces and newlines, outputs, ifs and
      // assigns, each delimiter with or without its `-`.
      let seed = 7;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const pieces = ['a', ' ', '  ', '\n', '\t', '\u00a0', 'é', '\n\n', ' x '];
      const dash = () => (rnd(2) ? '-' : '');
      const textPiece = () => Array.from({ length: rnd(4) }, () => pieces[rnd(pieces.length)]).join('');
      const block = (depth: number): string => {
        let s = '';
        for (let n = rnd(5); n > 0; n--) {
          s += textPiece();
          const k = rnd(depth > 2 ? 2 : 4);
          if (k === 0)
            s += `{{${dash()} ${['x', 'y', 'o.p', 'z', 'w | default: x', 'o.q | default: "d"'][rnd(6)]} ${dash()}}}`;
          else if (k === 1)
            s += `{%${dash()} assign z = ${['x', 'y', '"lit"'][rnd(3)]}${rnd(2) ? ' | upcase' : ''} ${dash()}%}`;
          else {
            const cond = ['x', 'y == "b"', 'o.p != x', 'x == 2'][rnd(4)];
            s += `{%${dash()} if ${cond} ${dash()}%}${block(depth + 1)}`;
            if (rnd(2)) s += `{%${dash()} else ${dash()}%}${block(depth + 1)}`;
            s += `{%${dash()} endif ${dash()}%}`;
          }
        }
        return s + textPiece();
      };
      const scopes = [
        { x: 'a', y: 'b', z: 'c', o: { p: 'a' }, w: '' },
        { x: 2, y: false, z: '', o: { p: 'q', q: 'Q' }, w: 'W' },
      ];
      for (let i = 0; i < 300; i++) {
        const source = block(0) || 'nothing generated';
        for (const scope of scopes) {
          const r = text(source, scope);
          expect(r.taken, JSON.stringify(source)).toBe(true);
          expect(r.direct, JSON.stringify(source)).toEqual(r.liquid);
        }
      }
    });
  });
});
