/**
 * A template's text and its Liquid delimiters (`{% … %}`, `{{ … }}`), as
 * `source.split(/(\{%[\s\S]*?%\}|\{\{[\s\S]*?\}\})/)` gives them: even items are text, odd items
 * a tag or an output, each ending at the first closer after its opener. In one pass: that regex
 * retries its lazy scan from every `{{` or `{%` that has no closer after it, which is quadratic
 * (a 500 kB body of `{{` held the event loop for minutes).
 */
export function splitLiquid(source: string): string[] {
  const parts: string[] = [];
  let text = 0;
  let from = 0;
  // Once an opener has no closer after it, no later opener of its kind has one either.
  let outputs = true;
  let tags = true;
  for (;;) {
    const o = outputs ? source.indexOf('{{', from) : -1;
    const t = tags ? source.indexOf('{%', from) : -1;
    if (o < 0 && t < 0) break;
    const isTag = t >= 0 && (o < 0 || t < o);
    const start = isTag ? t : o;
    const close = source.indexOf(isTag ? '%}' : '}}', start + 2);
    if (close < 0) {
      if (isTag) tags = false;
      else outputs = false;
      from = start + 1;
      continue;
    }
    parts.push(source.slice(text, start), source.slice(start, close + 2));
    text = from = close + 2;
  }
  parts.push(source.slice(text));
  return parts;
}
