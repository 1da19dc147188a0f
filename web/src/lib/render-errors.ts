import type { RenderError } from '../api-types.js';

export type EditorField = 'subject' | 'html_content' | 'text_content';

interface ErrorLike {
  status?: number;
  code?: string;
  message: string;
  details?: unknown;
}

const asField = (f: unknown): EditorField | null => {
  const s = String(f ?? '');
  if (/subject/.test(s)) return 'subject';
  if (/text/.test(s)) return 'text_content';
  if (/html/.test(s)) return 'html_content';
  return null;
};

/**
 * Liquid errors from a preview, whether the server returned them in the result (`errors`) or as
 * a 422 whose details carry a line: one list, each error tied to the field it belongs to.
 */
export function renderErrors(result: { errors?: RenderError[] } | undefined, failure?: ErrorLike): (RenderError & { field: EditorField | null })[] {
  const out: (RenderError & { field: EditorField | null })[] = [];
  for (const e of result?.errors ?? []) out.push({ ...e, field: asField(e.field) });
  if (failure && (failure.code === 'template_error' || failure.code === 'render_error' || failure.code === 'validation_failed')) {
    const d = (failure.details ?? {}) as Record<string, unknown>;
    const list = Array.isArray(d.errors) ? (d.errors as Record<string, unknown>[]) : [d];
    for (const e of list) {
      out.push({
        message: typeof e.message === 'string' ? e.message : failure.message,
        line: typeof e.line === 'number' ? e.line : null,
        column: typeof e.column === 'number' ? e.column : null,
        field: asField(e.field ?? e.part),
      });
    }
  }
  return out;
}
