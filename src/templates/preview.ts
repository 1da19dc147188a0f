import { AppError } from '../platform/errors.js';
import { syntaxErrors } from './render.js';
import type { Preview, TemplateService } from './service.js';
import { checkVariables, type VariableCheck } from './validate.js';

export interface UnsavedContent {
  subject: string;
  html_content: string;
  text_content?: string | null;
  /** Absent: the default layout, as for a new template; null: the body alone. */
  layout?: string | null;
  variables?: Record<string, unknown>;
  locale?: string;
  required_variables?: string[];
  optional_variables?: string[];
  sensitive_variables?: string[];
}

export interface EditorError {
  part: string;
  line?: number;
  column?: number;
  message: string;
}

/** An editor's live preview: every problem is data (errors, variable check), never a 4xx. */
export interface EditorPreview {
  subject: string | null;
  html: string | null;
  text: string | null;
  missing_variables: string[];
  errors: EditorError[];
  variables: VariableCheck | null;
}

const asEditorError = (e: unknown): EditorError => {
  if (!(e instanceof AppError)) throw e;
  const d = (e.details ?? {}) as { part?: string; line?: number; column?: number; error?: string };
  return {
    part: d.part ?? 'template',
    ...(d.line !== undefined ? { line: d.line, column: d.column } : {}),
    message: d.error ?? e.message,
  };
};

/** Renders content that is not saved yet with the same compiler and renderer as sending. */
export function previewUnsaved(
  templates: TemplateService,
  input: UnsavedContent,
  defaultLocale: string,
): EditorPreview {
  const content = {
    subject: input.subject,
    html_content: input.html_content,
    text_content: input.text_content || null,
  };
  const required = input.required_variables ?? [];
  const optional = input.optional_variables ?? [];
  const empty = { subject: null, html: null, text: null, missing_variables: [] };

  const errors: EditorError[] = syntaxErrors(content);
  if (errors.length > 0) return { ...empty, errors, variables: null };
  let compiled: ReturnType<typeof templates.compileContent>;
  try {
    compiled = templates.compileContent(content, input.layout === undefined ? 'default' : input.layout);
  } catch (e) {
    return { ...empty, errors: [asEditorError(e)], variables: null };
  }
  const variables = checkVariables(compiled.usedVariables, required, optional);
  const renderable = {
    locale: input.locale ?? defaultLocale,
    required,
    optional,
    sensitive: input.sensitive_variables ?? [],
    compiled,
  };
  try {
    const p: Preview = templates.preview(renderable, input.variables ?? {});
    return { ...p, errors: [], variables };
  } catch (e) {
    return { ...empty, errors: [asEditorError(e)], variables };
  }
}
