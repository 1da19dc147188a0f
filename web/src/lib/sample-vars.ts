/**
 * The sample variables an editor starts from: the template's own samples, plus a placeholder
 * for every required or optional variable they leave out, so the preview renders at once.
 */
export function initialSampleVariables(t: {
  sample_variables?: Record<string, unknown> | null;
  required_variables: string[];
  optional_variables?: string[];
}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(t.sample_variables ?? {}) };
  for (const name of t.required_variables) if (out[name] === undefined) out[name] = `<${name}>`;
  for (const name of t.optional_variables ?? []) if (out[name] === undefined) out[name] = '';
  return out;
}

/** Parses the sample-variables editor: an object, or an error message with its position. */
export function parseVariables(
  text: string,
): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: 'not_an_object' };
    return { ok: true, value: v as Record<string, unknown> };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Required variables the sample leaves empty: the same rule the server applies (null/undefined). */
export const missingRequired = (required: string[], vars: Record<string, unknown>): string[] =>
  required.filter((n) => vars[n] === undefined || vars[n] === null);
