import type { RenderError } from '../api-types.js';

export type EditorField = 'subject' | 'html_content' | 'text_content';

interface ErrorLike {
  status?: number;
  code?: string;
  message: string;
  details?: unknown;
}

export interface FieldError {
  message: string;
  line: number | null;
  column: number | null;
  /** The editor field the error belongs to; null when Liquid does not say (a layout, the whole template). */
  field: EditorField | null;
}

/** The server names parts 'subject', 'html', 'text' (or 'template', 'layout' for the whole). */
const asField = (part: unknown): EditorField | null => {
  const s = String(part ?? '');
  if (/subject/.test(s)) return 'subject';
  if (/text/.test(s)) return 'text_content';
  if (/html/.test(s)) return 'html_content';
  return null;
};

/**
 * Liquid errors from a preview, whether the server returned them in the result (`errors`, the
 * preview endpoint's way) or as a 422 whose details carry the part and line (saving): one list,
 * each error tied to the field it belongs to.
 */
export function renderErrors(result: { errors?: RenderError[] } | undefined, failure?: ErrorLike): FieldError[] {
  const out: FieldError[] = [];
  for (const e of result?.errors ?? [])
    out.push({
      message: e.message.replace(/, line:\d+, col:\d+$/, ''),
      line: e.line ?? null,
      column: e.column ?? null,
      field: asField(e.part),
    });
  if (
    failure?.code &&
    ['template_error', 'render_error', 'missing_variables', 'invalid_header_value'].includes(failure.code)
  ) {
    const d = (failure.details ?? {}) as Record<string, unknown>;
    out.push({
      message: typeof d.error === 'string' ? d.error : failure.message,
      line: typeof d.line === 'number' ? d.line : null,
      column: typeof d.column === 'number' ? d.column : null,
      field: asField(d.part),
    });
  }
  return out;
}
