import { compile as compileHtmlToText } from 'html-to-text';
import { parseDocument } from 'htmlparser2';
import juice from 'juice';
import { Context, type Emitter, Liquid, LiquidError, Tag, type Template, toValue, toValueSync } from 'liquidjs';
import { checkHeaderValue } from '../platform/header-safety.js';
import { AppError } from '../platform/errors.js';
import { compileFast, escapedLength, type FastTemplate } from './fast-render.js';
import { splitLiquid } from './liquid-spans.js';
import { unsafeUrls, variableOf } from './url-safety.js';
import type { LocaleContent } from './definition.js';
import type { Layout } from './layouts.js';

/**
 * Rendering with LiquidJS, sandboxed for templates edited by admins: no file system (an
 * in-memory, empty partials store), own properties only (no prototype walk), strict variables
 * and filters, and bounded parse size, render time and output size.
 *
 * A template is compiled once per (key, version, locale): the body is wrapped in its layout,
 * the CSS inlined with juice, and the result parsed. Versions never change once written, so
 * the compiled cache can never serve stale content.
 */

const LIMITS = {
  parseChars: 500_000,
  /** Wall-clock time of LiquidJS for all the parts of a message (see RenderBudget). */
  renderMs: 500,
  /**
   * LiquidJS's memory accounting, for all the parts of a message: one unit per element of an array
   * it builds (a range, a filter's result) and per character of a string a filter makes. A range
   * element costs 8 to 30 bytes of heap and 60 to 200 ns to build (before any time check), so this
   * bounds `{% for i in (1..n) %}` to about 80 MB more RSS (20,000,000 let a range of 19,000,000
   * through: 0.8 GB). The default templates use 32 units, a 500-line invoice 240,000; a value of
   * the largest output (2,000,000 characters) can still go through a filter such as `newline_to_br`.
   * The HTML part's escaping of every output is not charged (escapeOutput): the output is counted apart.
   */
  memory: 2_500_000,
  /** Characters of one part, counted as it is written (CountingEmitter). */
  outputChars: 2_000_000,
};

const OUTPUT_EXCEEDED = `rendered output exceeds ${LIMITS.outputChars} characters`;

/**
 * Tags that load other templates by name would read the file system (or, with the empty
 * in-memory store, fail only at render time). Refuse them when a template is parsed, so an
 * edit using one is a 422 at save with the tag's line and column.
 */
const FILE_TAGS = ['include', 'render', 'layout'] as const;
class DisabledTag extends Tag {
  constructor(...args: ConstructorParameters<typeof Tag>) {
    super(...args);
    throw new Error(`the {% ${args[0].name} %} tag is disabled: templates cannot load other files`);
  }
  *render(): Generator<unknown, void, unknown> {}
}

/** As LiquidJS's emitters write a value: a Drop's value, nil as nothing, arrays joined. */
function stringify(value: unknown): string {
  const v: unknown = toValue(value);
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(stringify).join('');
  return String(v);
}

/**
 * The HTML part's output escaping, as LiquidJS's `escape` filter writes it (the same five
 * characters, the same entities) but not charged to the memory limit: every output of the HTML
 * part goes through it, so with `escape` the memory limit had to hold the whole output, and the
 * output is counted on its own (CountingEmitter). `| escape` written in a template is still charged.
 */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
function escapeOutput(value: unknown): string {
  const s = stringify(value);
  // A value that cannot fit escaped is refused before it is escaped (20 MB of `<` took 2 s and
  // 0.9 GB). Refused here, not written unescaped: a capture could hold it for `| slice | raw`.
  if (5 * s.length > LIMITS.outputChars && escapedLength(s) > LIMITS.outputChars) throw new Error(OUTPUT_EXCEEDED);
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function engine(escapeHtml: boolean): Liquid {
  const eng = new Liquid({
    strictVariables: true,
    strictFilters: true,
    lenientIf: true,
    ownPropertyOnly: true,
    templates: {},
    relativeReference: false,
    dynamicPartials: false,
    parseLimit: LIMITS.parseChars,
    renderLimit: LIMITS.renderMs,
    memoryLimit: LIMITS.memory,
    ...(escapeHtml ? { outputEscape: escapeOutput } : {}),
  });
  for (const name of FILE_TAGS) eng.registerTag(name, DisabledTag);
  return eng;
}

const htmlEngine = engine(true);
const plainEngine = engine(false);

export const BUILTIN_VARIABLES = ['today', 'now', 'locale', 'brand', 'subject', 'content'] as const;

export interface BrandContext {
  name: string;
  logo_url: string;
  support_email: string;
  website_url: string;
}

export interface CompiledTemplate {
  subject: Template[];
  html: Template[];
  text: Template[] | null;
  /** The same parts for the direct renderer, where it can render them (see fast-render.ts). */
  fast: { subject: FastTemplate | null; html: FastTemplate | null; text: FastTemplate | null };
  /** Top-level variables the template reads (built-ins excluded). */
  usedVariables: string[];
}

export interface Rendered {
  subject: string;
  html: string;
  text: string;
}

/** Where a Liquid error points, from LiquidJS's "…, line:3, col:12" suffix. */
function position(e: unknown): { line?: number; column?: number } {
  const m = /line:(\d+), col:(\d+)/.exec(e instanceof Error ? e.message : '');
  return m ? { line: Number(m[1]), column: Number(m[2]) } : {};
}

function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!;
}

function parse(eng: Liquid, source: string, part: string): Template[] {
  try {
    return eng.parse(source);
  } catch (e) {
    const where = position(e);
    throw new AppError('template_error', `${part}: ${describe(e)}`, { part, ...where, error: describe(e) });
  }
}

/**
 * juice parses HTML, and an HTML parser moves stray text out of tables ("foster parenting"),
 * which would tear `{% for %}` loops away from their rows. Liquid tags therefore travel
 * through juice as comments (or as inert words inside a tag's attributes) and come back after.
 */
/**
 * juice's global code blocks (documented: `juice.codeBlocks`) fence `{{ … }}` and `<% … %>` with a
 * lazy regex each, then put every block back with one regex pass over the whole document: both
 * quadratic (200,000 `{{` in a `{% raw %}` block, or 50,000 `<% %>`, held the event loop for
 * minutes). inlineCss fences Liquid itself (splitLiquid, linear) and Postier has no EJS: none.
 */
delete juice.codeBlocks.HBS;
delete juice.codeBlocks.EJS;

/**
 * juice matches every selector of the `<style>` blocks against every element, synchronously,
 * on the event loop: 3,000 rules on 3,000 elements took two minutes, and `:has()` searches a
 * subtree per element and nests (`*:has(*:has(*:has(b)))` on 300 nested elements: 96 s). So
 * a template whose selectors × elements exceed CSS_PAIRS, or whose CSS uses `:has()` (which mail
 * clients do not inline anyway), is refused before juice runs. The count is an upper bound: every
 * `{` and `,` of the CSS is taken for a selector, every `<` before a letter for an element.
 *
 * Some selectors also walk the element's siblings (css-select, juice's matcher): `a ~ b` tries
 * every earlier sibling, and each `~` more multiplies by that again (`.q ~ p ~ p ~ p ~ p` on 100
 * sibling `<p>`s: 9 s; 20 rules `.x ~ p` on 4,900: 18 s), and `:nth-child()`, `:nth-last-child()`,
 * the `-of-type` classes and `:only-child` count siblings (20 `p:nth-last-of-type(2n)` on 4,900:
 * 29 s), all within the pairs above. So each selector (a comma-separated part, parentheses kept
 * whole) with k of those is counted as elements × siblings^k, the siblings being the most child
 * nodes one element has, read from the document parsed as juice parses it (htmlparser2, without
 * decoding entities; only when such a selector is there).
 */
const CSS_PAIRS = 100_000;
const SIBLING_WALK = /~(?!=)|:nth-|:(?:first|last|only)-of-type|:only-child/g;
function checkCss(source: string): void {
  const lower = source.toLowerCase();
  let selectors = 0;
  let hasHas = false;
  /** Per selector that walks siblings, how many walks it nests. */
  const walks: number[] = [];
  for (let i = lower.indexOf('<style'); i >= 0; i = lower.indexOf('<style', i)) {
    const open = lower.indexOf('>', i);
    if (open < 0) break;
    const close = lower.indexOf('</style', open);
    const end = close < 0 ? lower.length : close;
    let depth = 0;
    let from = open + 1;
    const part = (to: number) => {
      const k = lower.slice(from, to).match(SIBLING_WALK)?.length ?? 0;
      if (k > 0) walks.push(k);
      from = to + 1;
    };
    for (let j = open + 1; j < end; j++) {
      const c = lower.charCodeAt(j);
      if (c === 40) depth++;
      else if (c === 41) depth = Math.max(0, depth - 1);
      else if (c === 123 || c === 44) {
        selectors++; // { ,
        if (depth === 0 || c === 123) part(j);
      } else if (c === 125 || c === 59) {
        if (depth === 0) part(j); // } ;
      } else if (c === 58 && lower.startsWith('has', j + 1)) hasHas ||= /^:has\s*\(/.test(lower.slice(j, j + 20));
    }
    part(end);
    i = end;
  }
  if (selectors === 0 && !hasHas && walks.length === 0) return;
  const fail = (error: string) => {
    throw new AppError('template_error', `html: ${error}`, { part: 'html', error });
  };
  if (hasHas) fail('the CSS selector :has() cannot be inlined: select the elements without it');
  let elements = 0;
  for (let i = lower.indexOf('<'); i >= 0; i = lower.indexOf('<', i + 1)) {
    const c = lower.charCodeAt(i + 1);
    if (c >= 97 && c <= 122) elements++;
  }
  if (selectors * elements > CSS_PAIRS) {
    fail(
      `too much CSS to inline: about ${selectors} selectors on ${elements} elements ` +
        `(at most ${CSS_PAIRS} pairs): style fewer elements through <style>, or use style attributes`,
    );
  }
  if (walks.length === 0) return;
  const siblings = mostChildren(source);
  let cost = selectors * elements;
  for (const k of walks) cost += elements * siblings ** k;
  if (cost > CSS_PAIRS) {
    fail(
      `too much CSS to inline: selectors with ~, :nth-child() or the like (${walks.length}) walk up to ` +
        `${siblings} siblings for each of ${elements} elements (at most ${CSS_PAIRS} steps): ` +
        `select the elements by class instead, or use style attributes`,
    );
  }
}

/** The most child nodes (elements, text, comments) one node of the document has. */
function mostChildren(source: string): number {
  let most = 0;
  const stack: Array<{ children?: unknown[] }> = [parseDocument(source, { decodeEntities: false })];
  for (let node = stack.pop(); node; node = stack.pop()) {
    const children = node.children as Array<{ children?: unknown[] }> | undefined;
    if (!children) continue;
    most = Math.max(most, children.length);
    for (const child of children) if (child.children) stack.push(child);
  }
  return most;
}

function inlineCss(source: string): string {
  const saved: string[] = [];
  let inTag = false;
  const protectedSource = splitLiquid(source)
    .map((chunk, i) => {
      if (i % 2 === 0) {
        for (let j = 0; j < chunk.length; j++) {
          const c = chunk[j];
          if (c === '<' && /[a-zA-Z/!]/.test(chunk[j + 1] ?? '')) inTag = true;
          else if (c === '>') inTag = false;
        }
        return chunk;
      }
      saved.push(chunk);
      const n = saved.length - 1;
      return !inTag && chunk.startsWith('{%') ? `<!--LQ${n}-->` : `LQ${n}QL`;
    })
    .join('');
  checkCss(protectedSource);
  let inlined: string;
  try {
    inlined = juice(protectedSource, {
      preserveImportant: true,
      applyWidthAttributes: false,
      applyHeightAttributes: false,
    });
  } catch (e) {
    // juice writes the document back recursively: a few thousand nested elements overflow the stack.
    if (!(e instanceof RangeError)) throw e;
    throw new AppError('template_error', `html: the HTML cannot be inlined (${e.message})`, {
      part: 'html',
      error: `the HTML cannot be inlined (${e.message}): is it nested thousands of elements deep?`,
    });
  }
  return inlined.replace(
    /<!--LQ(\d+)-->|LQ(\d+)QL/g,
    (_, a: string | undefined, b: string | undefined) => saved[Number(a ?? b)]!,
  );
}

function wrap(layoutSource: string, placeholder: RegExp, body: string): string {
  // A function replacement: `$` in the body must stay literal.
  return placeholder.test(layoutSource) ? layoutSource.replace(placeholder, () => body) : body;
}

/** Every part's syntax error (not only the first), for an editor that shows them all at once. */
export function syntaxErrors(
  content: LocaleContent,
): Array<{ part: string; line?: number; column?: number; message: string }> {
  const errors = [];
  for (const [eng, src, part] of [
    [plainEngine, content.subject, 'subject'],
    [htmlEngine, content.html_content, 'html'],
    [plainEngine, content.text_content ?? '', 'text'],
  ] as const) {
    try {
      parse(eng, src, part);
    } catch (e) {
      const d = (e as AppError).details as { line?: number; column?: number; error: string };
      errors.push({ part, ...(d.line !== undefined ? { line: d.line, column: d.column } : {}), message: d.error });
    }
  }
  return errors;
}

/** `fastPath: false` leaves every render to LiquidJS (the tests compare both). */
export function compileTemplate(
  content: LocaleContent,
  layout: Layout | undefined,
  options: { fastPath?: boolean } = {},
): CompiledTemplate {
  // Parse the parts alone first, so errors point at lines of what the admin wrote.
  const subject = parse(plainEngine, content.subject, 'subject');
  parse(htmlEngine, content.html_content, 'html');
  if (content.text_content) parse(plainEngine, content.text_content, 'text');

  const htmlSource = layout
    ? wrap(layout.html, /\{\{-?\s*content\s*\|\s*raw\s*-?\}\}/, content.html_content)
    : content.html_content;
  const htmlInlined = inlineCss(htmlSource);
  const html = parse(htmlEngine, htmlInlined, 'html');
  const textSource =
    content.text_content && layout?.text
      ? wrap(layout.text, /\{\{-?\s*content\s*-?\}\}/, content.text_content)
      : content.text_content;
  const text = textSource ? parse(plainEngine, textSource, 'text') : null;

  const fastPath = options.fastPath ?? true;
  const fast = {
    subject: fastPath ? compileFast(content.subject, false, LIMITS.outputChars) : null,
    html: fastPath ? compileFast(htmlInlined, true, LIMITS.outputChars) : null,
    text: fastPath && textSource ? compileFast(textSource, false, LIMITS.outputChars) : null,
  };
  return { subject, html, text, fast, usedVariables: usedVariables(content) };
}

/** Top-level variable names a template reads, without the built-ins. */
export function usedVariables(content: LocaleContent): string[] {
  const names = new Set<string>();
  for (const [eng, src] of [
    [plainEngine, content.subject],
    [htmlEngine, content.html_content],
    [plainEngine, content.text_content ?? ''],
  ] as const) {
    for (const v of eng.globalVariablesSync(src, { partials: false })) names.add(v);
  }
  for (const b of BUILTIN_VARIABLES) names.delete(b);
  return [...names].sort();
}

/**
 * A locale name as Intl takes it. Locale names follow LOCALE_PATTERN (validate.ts), which admits
 * `en_US` and subtags Intl refuses (`en-1a`): Intl threw a RangeError, a 500 on every send and
 * preview of such a locale. `_` becomes `-`; a tag Intl still refuses falls back to its language.
 */
function intlLocale(locale: string): string {
  for (const tag of [locale.replace(/_/g, '-'), locale.split(/[-_]/)[0]!]) {
    try {
      return Intl.getCanonicalLocales(tag)[0]!;
    } catch {
      // The next candidate.
    }
  }
  return 'en';
}

const dateFormats = new Map<
  string,
  { date: Intl.DateTimeFormat; dateTime: Intl.DateTimeFormat; minute: number; values: { today: string; now: string } }
>();
/**
 * `today` and `now` in the locale and time zone. Both change once a minute at most (long date,
 * short time), and formatting costs more than a cache lookup: kept per minute.
 */
function clockVariables(locale: string, timeZone: string, now: Date): { today: string; now: string } {
  const k = `${locale}|${timeZone}`;
  let f = dateFormats.get(k);
  if (!f) {
    const tag = intlLocale(locale);
    f = {
      date: new Intl.DateTimeFormat(tag, { dateStyle: 'long', timeZone }),
      dateTime: new Intl.DateTimeFormat(tag, { dateStyle: 'long', timeStyle: 'short', timeZone }),
      minute: NaN,
      values: { today: '', now: '' },
    };
    dateFormats.set(k, f);
  }
  const minute = Math.floor(now.getTime() / 60_000);
  if (minute !== f.minute) {
    f.values = { today: f.date.format(now), now: f.dateTime.format(now) };
    f.minute = minute;
  }
  return f.values;
}

export interface RenderContext {
  locale: string;
  timeZone: string;
  brand: BrandContext;
  now?: Date;
  /** Sending is strict (an undefined variable is an error); previews are lenient. Default true. */
  strict?: boolean;
  /** Limits shared with another render of the same message (renderForSend's archive); default: new ones. */
  budget?: RenderBudget;
}

/**
 * Subjects are one header line: control characters (line breaks from the template's own layout
 * among them) become one space, and the result is trimmed. What a client would decode from the
 * line (encoded words) is checked by checkHeaderValue: a 422 rather than a silent rewrite.
 */
const toHeaderLine = (s: string): string =>
  s
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** The limit a render ran into, for the caller's error details. */
type LimitHit = 'render_time' | 'memory' | 'output_chars';

/**
 * LiquidJS's SimpleEmitter (its documented Emitter interface), counting: the render stops as soon as
 * the part's output passes LIMITS.outputChars, instead of building it whole and being refused
 * after (a loop printing a 1,000-character value a million times built 1 GB in the render time).
 * A `{% capture %}` renders into an emitter of LiquidJS's own; what it holds is counted when
 * printed, and the filters that copy it are charged to the memory limit.
 */
class CountingEmitter implements Emitter {
  buffer = '';
  exceeded = false;
  write(html: unknown): void {
    const s = stringify(html);
    if (this.buffer.length + s.length > LIMITS.outputChars) {
      this.exceeded = true;
      throw new Error(OUTPUT_EXCEEDED);
    }
    this.buffer += s;
  }
}

/** process.threadCpuUsage (Node 24, current Node 22): not in the Node 20 types this code is checked with. */
type ThreadCpuUsage = (previous?: NodeJS.CpuUsage) => NodeJS.CpuUsage;
const threadCpuUsage = (process as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage;

/**
 * CPU time used by the calling thread (since `previous`): process.threadCpuUsage where Node has it
 * (not Node 20), so a busy delivery thread in the same process does not count; else the whole process's.
 */
export const renderingThreadCpu: ThreadCpuUsage = threadCpuUsage
  ? (previous) => threadCpuUsage.call(process, previous)
  : (previous) => process.cpuUsage(previous);

/**
 * The limits of one message's render, shared by its parts (subject, HTML, text): LIMITS.renderMs
 * of wall-clock time from the first part LiquidJS renders (the direct renderer has no loop), also
 * shared by the archive's rendering of a message with sensitive variables; and one memory account.
 * (Each part and each rendering had limits of their own: a hostile template held the event loop
 * up to six times the limit, twelve with the retry.)
 *
 * The time limit is wall-clock time (LiquidJS's renderLimit). It used to be retried once, always
 * (b62f31c: "a load spike must not refuse a good template"), so a runaway render held the event
 * loop twice. A good template computes a few milliseconds (the bundled ones 1 to 20 ms, a
 * 500-line invoice 100 to 170 ms): it reaches the limit only when the process was descheduled,
 * i.e. while it computed little. So a render stopped by the time limit is tried once more, with a
 * new deadline, only when the process used less than RETRY_CPU_MS of CPU since the clock started;
 * a runaway loop has computed far more (unless the host gives the process less than a tenth of
 * a core) and fails at once. The CPU counted is the rendering thread's own where Node can tell
 * (renderingThreadCpu); elsewhere the process's, whose other threads (the delivery and submission
 * threads of `postier serve`, GC helpers, the libuv pool) can make a descheduled render look busy:
 * it is then refused, as a runaway is.
 */
export interface RenderBudget {
  /** performance.now() at the first LiquidJS render; NaN before. */
  started: number;
  deadline: number;
  cpuAtStart: NodeJS.CpuUsage | null;
  retried: boolean;
  memory: Context['memoryLimit'] | null;
}

export function renderBudget(): RenderBudget {
  return { started: Number.NaN, deadline: Number.NaN, cpuAtStart: null, retried: false, memory: null };
}

function startClock(budget: RenderBudget): void {
  budget.started = performance.now();
  budget.deadline = budget.started + LIMITS.renderMs;
  budget.cpuAtStart = renderingThreadCpu();
}

const RETRY_CPU_MS = LIMITS.renderMs / 10;

/** Stopped by the time limit having computed little: descheduled, not runaway. */
function descheduled(budget: RenderBudget): boolean {
  const cpu = renderingThreadCpu(budget.cpuAtStart ?? undefined);
  return (cpu.user + cpu.system) / 1000 < RETRY_CPU_MS;
}

function renderLiquid(
  eng: Liquid,
  tpl: Template[],
  scope: Record<string, unknown>,
  strict: boolean,
  budget: RenderBudget,
): string {
  if (Number.isNaN(budget.started)) startClock(budget);
  for (;;) {
    const emitter = new CountingEmitter();
    const ctx = new Context(
      scope,
      eng.options,
      {
        sync: true,
        strictVariables: strict,
        renderLimit: budget.deadline - performance.now(),
        memoryLimit: LIMITS.memory,
      },
      { liquid: eng, ...(budget.memory ? { memoryLimit: budget.memory } : {}) },
    );
    budget.memory = ctx.memoryLimit;
    try {
      toValueSync(eng.renderer.renderTemplates(tpl, ctx, emitter));
      return emitter.buffer;
    } catch (e) {
      if (emitter.exceeded || (e instanceof LiquidError && e.message.startsWith(OUTPUT_EXCEEDED)))
        throw new RenderLimit('output_chars', e);
      if (!(e instanceof LiquidError)) throw e;
      if (/template render limit exceeded/.test(e.message)) {
        if (budget.retried || !descheduled(budget)) throw new RenderLimit('render_time', e);
        budget.retried = true;
        budget.memory = null;
        startClock(budget);
        continue;
      }
      if (/memory alloc limit exceeded/.test(e.message)) throw new RenderLimit('memory', e);
      throw e;
    }
  }
}

/** A render stopped by a limit: which one, and LiquidJS's message (with where it stopped). */
class RenderLimit extends Error {
  constructor(
    readonly limit: LimitHit,
    liquidError: unknown,
  ) {
    super(describe(liquidError));
  }
}

const LIMIT_NAMES: Record<LimitHit, string> = {
  render_time: `the render took more than ${LIMITS.renderMs} ms`,
  memory: 'the render allocated too much memory',
  output_chars: `the rendered output exceeds ${LIMITS.outputChars} characters`,
};

function renderOne(
  eng: Liquid,
  tpl: Template[],
  fast: FastTemplate | null,
  scope: Record<string, unknown>,
  part: string,
  strict: boolean,
  budget: RenderBudget,
): string {
  // The direct renderer gives LiquidJS's output or nothing; then LiquidJS renders (and raises).
  const direct = fast?.render(scope);
  if (direct !== undefined) return checkedOutput(direct, part);
  try {
    return renderLiquid(eng, tpl, scope, strict, budget);
  } catch (e) {
    if (e instanceof RenderLimit) {
      // Where it stopped (LiquidJS's line and column), and which limit, for a machine to read.
      const error = `${LIMIT_NAMES[e.limit]} (${e.message})`;
      throw new AppError('render_error', `${part}: ${error}`, { part, limit: e.limit, error });
    }
    const msg = describe(e);
    if (e instanceof LiquidError && /undefined variable/i.test(msg)) {
      throw new AppError('missing_variables', `${part}: ${msg}`, { part, error: msg });
    }
    throw new AppError('render_error', `${part}: ${msg}`, { part, error: msg });
  }
}

function checkedOutput(s: string, part: string): string {
  if (s.length > LIMITS.outputChars) {
    const error = LIMIT_NAMES.output_chars;
    throw new AppError('render_error', `${part}: ${error}`, { part, limit: 'output_chars', error });
  }
  return s;
}

/** 422 unsafe_url naming the attribute, its scheme and, when it can be traced, the variable. */
export function refuseUnsafeUrls(html: string, variables: Record<string, unknown>): void {
  const bad = unsafeUrls(html)[0];
  if (!bad) return;
  const variable = variableOf(bad, variables);
  throw new AppError(
    'unsafe_url',
    `html: <${bad.tag} ${bad.attribute}> would use the ${bad.scheme === '&' ? 'disguised' : `"${bad.scheme}:"`} scheme` +
      `${variable ? ` (from the variable ${variable})` : ''}; only http, https, mailto, tel, cid or relative URLs are sent`,
    { part: 'html', tag: bad.tag, attribute: bad.attribute, scheme: bad.scheme, value: bad.value, variable },
  );
}

export function renderTemplate(
  compiled: CompiledTemplate,
  variables: Record<string, unknown>,
  ctx: RenderContext,
): Rendered {
  const now = ctx.now ?? new Date();
  // Built-ins win over request variables of the same name.
  const scope: Record<string, unknown> = {
    ...variables,
    ...clockVariables(ctx.locale, ctx.timeZone, now),
    locale: ctx.locale,
    brand: ctx.brand,
  };
  const strict = ctx.strict ?? true;
  const budget = ctx.budget ?? renderBudget();
  // One memory account per message: the archive's render (a budget shared) starts its own.
  budget.memory = null;
  const subject = toHeaderLine(
    renderOne(plainEngine, compiled.subject, compiled.fast.subject, scope, 'subject', strict, budget),
  );
  checkHeaderValue('subject', subject);
  scope.subject = subject;
  const html = renderOne(htmlEngine, compiled.html, compiled.fast.html, scope, 'html', strict, budget);
  // Sending (strict) refuses a link a client would run; a preview shows it (the check names it).
  if (strict) refuseUnsafeUrls(html, variables);
  const text = compiled.text
    ? renderOne(plainEngine, compiled.text, compiled.fast.text, scope, 'text', strict, budget)
    : textFromHtml(html);
  return { subject, html, text };
}

/**
 * html-to-text recurses once per element level (a few thousand nested `<div>`s overflowed the
 * stack: a 500), and its cost grows faster than its input: 1.9 MB of `<td>x</td>`, one long word
 * built from pieces, took 35 s, all of it holding the event loop. So it reads at most
 * TEXT_SOURCE_CHARS of HTML (far more than mail clients show: Gmail clips at 102 kB) and
 * ends the text with TEXT_CUT_MARK when it stopped there, and reads elements at most
 * TEXT_DEPTH levels deep (what is deeper becomes `…`).
 */
const TEXT_SOURCE_CHARS = 100_000;
const TEXT_DEPTH = 100;
const TEXT_CUT_MARK = '[…]';
const htmlToTextConverter = compileHtmlToText({
  wordwrap: 78,
  limits: { maxDepth: TEXT_DEPTH, ellipsis: '…' },
  selectors: [
    { selector: 'img', format: 'skip' },
    { selector: '.preheader', format: 'skip' },
  ],
});

/** The text part of mail that has only HTML: templates without a text body, and raw sends. */
export function textFromHtml(html: string): string {
  if (html.length <= TEXT_SOURCE_CHARS) return htmlToTextConverter(html);
  // Never between the two halves of a surrogate pair.
  const end = TEXT_SOURCE_CHARS - (/[\uD800-\uDBFF]/.test(html[TEXT_SOURCE_CHARS - 1]!) ? 1 : 0);
  return `${htmlToTextConverter(html.slice(0, end))}\n\n${TEXT_CUT_MARK}`;
}
