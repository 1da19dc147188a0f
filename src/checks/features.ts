/**
 * What of an email's HTML and CSS is which caniemail feature (by slug). The names follow
 * caniemail's own: `css-<property>` is the slug of most properties, so only the exceptions are
 * listed; a slug the data does not have is dropped by the check.
 */

/** Elements that are a feature by themselves. */
export const ELEMENTS: Record<string, string> = {
  abbr: 'html-abbr',
  acronym: 'html-acronym',
  address: 'html-address',
  audio: 'html-audio',
  base: 'html-base',
  bdi: 'html-bdi',
  blockquote: 'html-blockquote',
  body: 'html-body',
  code: 'html-code',
  del: 'html-del',
  dfn: 'html-dfn',
  dialog: 'html-dialog',
  div: 'html-div',
  form: 'html-form',
  hr: 'html-hr',
  img: 'html-img',
  link: 'html-link',
  map: 'html-image-maps',
  marquee: 'html-marquee',
  meter: 'html-meter',
  object: 'html-object',
  p: 'html-p',
  picture: 'html-picture',
  pre: 'html-pre',
  progress: 'html-progress',
  rp: 'html-rp',
  rt: 'html-rt',
  ruby: 'html-ruby',
  select: 'html-select',
  small: 'html-small',
  span: 'html-span',
  strike: 'html-strike',
  strong: 'html-strong',
  style: 'html-style',
  svg: 'html-svg',
  table: 'html-table',
  textarea: 'html-textarea',
  video: 'html-video',
  wbr: 'html-wbr',
  ...Object.fromEntries(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((h) => [h, 'html-h1-h6'])),
  ...Object.fromEntries(['ul', 'ol', 'dl'].map((l) => [l, 'html-lists'])),
  ...Object.fromEntries(
    ['article', 'aside', 'details', 'figcaption', 'figure', 'footer', 'header', 'main', 'mark', 'nav', 'section']
      .concat(['summary', 'time'])
      .map((s) => [s, 'html-semantics']),
  ),
};

/** Attributes that are a feature on any element. */
export const ATTRIBUTES: Record<string, string> = {
  align: 'html-align',
  background: 'html-background',
  cellpadding: 'html-cellpadding',
  cellspacing: 'html-cellspacing',
  dir: 'html-dir',
  height: 'html-height',
  hidden: 'html-hidden',
  inert: 'css-inert-attribute',
  lang: 'html-lang',
  loading: 'html-loading-attribute',
  popover: 'html-popover',
  required: 'html-required',
  role: 'html-role',
  srcset: 'html-srcset',
  target: 'html-target',
  usemap: 'html-image-maps',
  valign: 'html-valign',
  width: 'html-width',
  'aria-describedby': 'html-aria-describedby',
  'aria-hidden': 'html-aria-hidden',
  'aria-label': 'html-aria-label',
  'aria-labelledby': 'html-aria-labelledby',
  'aria-live': 'html-aria-live',
};

const INPUT_TYPES = new Set(['checkbox', 'hidden', 'radio', 'reset', 'submit', 'text']);

/** Features an element has by its attributes' values: input and button types, local and mailto links, … */
export function elementSlugs(name: string, attribs: Record<string, string>): string[] {
  const out: string[] = [];
  const element = ELEMENTS[name];
  if (element) out.push(element);
  for (const attribute of Object.keys(attribs)) {
    const slug = ATTRIBUTES[attribute];
    // srcset and sizes are one feature: counted once per element.
    if (slug && !(attribute === 'srcset' && out.includes(slug))) out.push(slug);
  }
  if (attribs.sizes !== undefined && attribs.srcset === undefined) out.push('html-srcset');
  if (name === 'input') {
    const type = (attribs.type ?? 'text').trim().toLowerCase();
    if (INPUT_TYPES.has(type)) out.push(`html-input-${type}`);
  } else if (name === 'button') {
    const type = (attribs.type ?? 'submit').trim().toLowerCase();
    if (type === 'submit' || type === 'reset') out.push(`html-button-${type}`);
  } else if (name === 'a' && attribs.href !== undefined) {
    const href = attribs.href.trim();
    if (href.startsWith('#')) out.push('html-anchor-links');
    else if (/^mailto:/i.test(href)) out.push('html-mailto-links');
  } else if (name === 'meta' && /^(color-scheme|supported-color-schemes)$/i.test((attribs.name ?? '').trim())) {
    out.push('html-meta-color-scheme');
  } else if (name === 'html' && ['⚡4email', 'amp4email'].some((a) => a in attribs)) {
    out.push('amp');
  } else if (name === 'img' && attribs.src) {
    out.push(...imageSlugs(attribs.src));
  }
  return out;
}

const IMAGE_EXTENSIONS: Record<string, string> = {
  apng: 'image-apng',
  avif: 'image-avif',
  bmp: 'image-bmp',
  gif: 'image-gif',
  hdr: 'image-hdr',
  heic: 'image-heif',
  heif: 'image-heif',
  ico: 'image-ico',
  jpeg: 'image-jpg',
  jpg: 'image-jpg',
  mp4: 'image-mp4',
  png: 'image-png',
  svg: 'image-svg',
  tif: 'image-tiff',
  tiff: 'image-tiff',
  webp: 'image-webp',
};

/** An image's format, from its data: URI's media type or its URL's extension. */
export function imageSlugs(src: string): string[] {
  const data = /^\s*data:image\/([\w.+-]+)/i.exec(src);
  if (data) {
    const type = data[1]!
      .toLowerCase()
      .replace(/\+xml$/, '')
      .replace(/^x-/, '');
    const format = IMAGE_EXTENSIONS[type];
    return format ? ['image-base64', format] : ['image-base64'];
  }
  const path = src.split(/[?#]/)[0]!;
  const ext = /\.([a-z0-9]{2,5})$/i.exec(path)?.[1]?.toLowerCase();
  const format = ext ? IMAGE_EXTENSIONS[ext] : undefined;
  return format ? [format] : [];
}

const PSEUDO_ELEMENTS = new Set(['after', 'before', 'first-letter', 'first-line', 'marker', 'placeholder']);
/** Pseudo-classes whose argument is a selector list: what is inside counts too. */
const SELECTOR_ARGUMENTS = new Set(['not', 'is', 'where', 'has', 'matches', '-webkit-any']);

/** Splits at each top-level `sep` (outside strings, parentheses and brackets). */
function splitTopLevel(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === "'") {
      const close = s.indexOf(c, i + 1);
      i = close < 0 ? s.length : close;
    } else if (c === '(' || c === '[') depth++;
    else if ((c === ')' || c === ']') && depth > 0) depth--;
    else if (c === sep && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

/** Past the `)` or `]` that closes what opens at `i`. */
function closing(s: string, i: number): number {
  const open = s[i]!;
  const close = open === '(' ? ')' : ']';
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s[j]!;
    if (c === '"' || c === "'") {
      const end = s.indexOf(c, j + 1);
      j = end < 0 ? s.length : end;
    } else if (c === open) depth++;
    else if (c === close && --depth === 0) return j + 1;
  }
  return s.length;
}

const IDENT = /-?(?:[_a-zA-Z\u00a0-\uffff]|\\.)(?:[\w\u00a0-\uffff-]|\\.)*/y;

/** The identifier starting at `i`, or '' (a sticky match: no copy of the rest of the text). */
function identAt(s: string, i: number): string {
  IDENT.lastIndex = i;
  return IDENT.exec(s)?.[0] ?? '';
}

/** The features a selector list uses: simple selectors, combinators, grouping, chaining, pseudo-classes and elements. */
export function selectorSlugs(list: string, depth = 0): string[] {
  const out: string[] = [];
  const parts = splitTopLevel(list, ',');
  if (parts.length > 1 && depth === 0) out.push('css-selector-grouping');
  for (const part of parts) complexSelector(part.trim(), out, depth);
  return out;
}

function complexSelector(s: string, out: string[], depth: number): void {
  let simple = 0;
  let started = false;
  const endCompound = () => {
    if (simple >= 2) out.push('css-selector-chaining');
    simple = 0;
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      while (i < s.length && /\s/.test(s[i]!)) i++;
      if (started && i < s.length && !'>+~'.includes(s[i]!)) {
        out.push('css-selector-descendant');
        endCompound();
      }
      continue;
    }
    started = true;
    if (c === '>' || c === '+' || c === '~') {
      out.push(
        c === '>' ? 'css-selector-child' : c === '+' ? 'css-selector-adjacent-sibling' : 'css-selector-general-sibling',
      );
      endCompound();
      i++;
      while (i < s.length && /\s/.test(s[i]!)) i++;
      continue;
    }
    if (c === '*') {
      out.push('css-selector-universal');
      simple++;
      i++;
    } else if (c === '#' || c === '.') {
      const name = identAt(s, i + 1);
      out.push(c === '#' ? 'css-selector-id' : 'css-selector-class');
      simple++;
      i += 1 + name.length;
    } else if (c === '[') {
      out.push('css-selector-attribute');
      simple++;
      i = closing(s, i);
    } else if (c === ':') {
      const element = s[i + 1] === ':';
      i += element ? 2 : 1;
      const name = identAt(s, i).toLowerCase();
      i += name.length;
      let argument: string | undefined;
      if (s[i] === '(') {
        const end = closing(s, i);
        argument = s.slice(i + 1, end - 1);
        i = end;
      }
      if (element || PSEUDO_ELEMENTS.has(name)) out.push(`css-pseudo-element-${name}`);
      else if (name) out.push(`css-pseudo-class-${name}`);
      if (argument !== undefined && SELECTOR_ARGUMENTS.has(name) && depth < 8)
        out.push(...selectorSlugs(argument, depth + 1));
    } else {
      const name = identAt(s, i);
      if (name) {
        out.push('css-selector-type');
        simple++;
        i += name.length;
      } else {
        if (c === '&') simple++; // the nesting selector stands for its parent's: `&.d` chains
        i++; // `&`, `|` and anything else this reader does not know
      }
    }
  }
  endCompound();
}

/** Properties whose slug is not `css-<property>`. */
const PROPERTY_PATTERNS: Array<[RegExp, string]> = [
  [/^animation(-|$)/, 'css-animation'],
  [/^transition(-|$)/, 'css-transition'],
  [/^border-(top|bottom)-(left|right)-radius$/, 'css-border-radius'],
  [/^border-(start|end)-(start|end)-radius$/, 'css-border-radius-logical'],
  [/^border-image(-|$)/, 'css-border-image'],
  [/^border-(inline|block)$/, 'css-border-inline-block'],
  [/^border-(inline|block)-(start|end)-(color|style|width)$/, 'css-border-inline-block-longhand'],
  [/^border-(inline|block)-(color|style|width|start|end)$/, 'css-border-inline-block-individual'],
  [/^border(-(top|right|bottom|left))?(-(width|style|color))?$/, 'css-border'],
  [/^(margin|padding)-(top|right|bottom|left)$/, 'css-$1'],
  [/^(margin|padding)-(inline|block)$/, 'css-$1-inline-block'],
  [/^(margin|padding)-inline-(start|end)$/, 'css-$1-inline-start-end'],
  [/^(margin|padding)-block-(start|end)$/, 'css-$1-block-start-end'],
  [/^block-size$/, 'css-block-inline-size'],
  [/^(columns|column-(fill|rule|rule-color|rule-style|rule-width|span|width))$/, 'css-column-layout-properties'],
  [/^(column|row)-gap$/, 'css-gap'],
  [/^grid-template(-|$)/, 'css-grid-template'],
  [/^(top|right|bottom|left)$/, 'css-left-right-top-bottom'],
  [/^inset(-|$)/, 'css-inset'],
  [/^overflow-(x|y|block|inline)$/, 'css-overflow'],
  [/^scroll-snap(-|$)/, 'css-scroll-snap'],
];

/** Properties caniemail tests with one value only (its titles: `flex-direction:column`, `flex-wrap: wrap`). */
const VALUE_FEATURES: Record<string, RegExp> = { 'flex-direction': /^column/, 'flex-wrap': /^wrap/ };

const UNIT = /(?<![\w#.-])[+-]?(?:\d+(?:\.\d+)?|\.\d+)(px|em|rem|ex|ch|vw|vh|vmin|vmax|cm|mm|in|pt|pc|%)(?![\w%-])/gi;
const FUNCTION =
  /(?<![\w-])(?:-(?:webkit|moz|ms|o)-)?(calc|clamp|min|max|light-dark|rgba?|lch|oklch|lab|oklab|(?:repeating-)?(?:linear|radial|conic)-gradient)\(/gi;
const FUNCTION_SLUGS: Record<string, string> = {
  calc: 'css-unit-calc',
  clamp: 'css-function-clamp',
  min: 'css-function-min',
  max: 'css-function-max',
  'light-dark': 'css-function-light-dark',
  rgb: 'css-rgb',
  rgba: 'css-rgba',
  lch: 'css-modern-color',
  oklch: 'css-modern-color',
  lab: 'css-modern-color',
  oklab: 'css-modern-color',
};
const INTRINSIC = /(?<![\w-])(fit-content|min-content|max-content)(?![\w-])/gi;
const SYSTEM_FONT = /(?<![\w-])(system-ui|ui-serif|ui-sans-serif|ui-rounded|ui-monospace)(?![\w-])/i;

const count = (re: RegExp, s: string) => s.match(re)?.length ?? 0;

/** The features one declaration uses: its property, and its value's units, functions and keywords. */
export function declarationSlugs(property: string, value: string, important: boolean): string[] {
  const out: string[] = [];
  if (important) out.push('css-important');
  if (property.startsWith('--')) {
    out.push('css-variables');
    return out;
  }
  const name = property.replace(/^-(webkit|moz|ms|o)-/, '');
  const v = value.toLowerCase();
  const only = VALUE_FEATURES[name];
  if (only) {
    if (only.test(v)) out.push(`css-${name}`);
  } else {
    const pattern = PROPERTY_PATTERNS.find(([re]) => re.test(name));
    out.push(pattern ? pattern[1].replace('$1', pattern[0].exec(name)![1] ?? '') : `css-${name}`);
  }
  if (name === 'display') {
    if (/^(inline-)?flex\b/.test(v)) out.push('css-display-flex');
    else if (/^(inline-)?grid\b/.test(v)) out.push('css-display-grid');
    else if (/^none\b/.test(v)) out.push('css-display-none');
  } else if ((name === 'font-family' || name === 'font') && SYSTEM_FONT.test(v)) out.push('css-sytem-ui');

  // Units and keywords are read outside strings and url(): a file name is not a length.
  const bare = v.replace(/url\((?:"[^"]*"|'[^']*'|[^)]*)\)/g, ' ').replace(/"[^"]*"|'[^']*'/g, ' ');
  for (const m of bare.matchAll(UNIT)) out.push(m[1] === '%' ? 'css-unit-percent' : `css-unit-${m[1]}`);
  for (const m of bare.matchAll(FUNCTION)) {
    const f = m[1]!.replace(/^repeating-/, '');
    out.push(FUNCTION_SLUGS[f] ?? `css-${f}`);
  }
  if (/(?<![\w-])var\(/.test(bare)) out.push('css-variables');
  for (let n = count(INTRINSIC, bare); n > 0; n--) out.push('css-intrinsic-size');
  if (/(?<![\w-])initial(?![\w-])/.test(bare)) out.push('css-unit-initial');
  return out;
}

/** The features of an at-rule: itself, and for @media the media features caniemail tests. */
export function atRuleSlugs(name: string, prelude: string): string[] {
  const n = name.replace(/^-(webkit|moz|ms|o)-/, '');
  if (n === 'media') {
    const p = prelude.toLowerCase();
    const out = ['css-at-media'];
    if (p.includes('prefers-color-scheme')) out.push('css-at-media-prefers-color-scheme');
    if (p.includes('prefers-reduced-motion')) out.push('css-at-media-prefers-reduced-motion');
    if (p.includes('orientation')) out.push('css-at-media-orientation');
    if (/(?<![\w-])(any-)?hover(?![\w-])/.test(p)) out.push('css-at-media-hover');
    if (p.includes('device-pixel-ratio')) out.push('css-at-media-device-pixel-ratio');
    return out;
  }
  return [`css-at-${n}`];
}
