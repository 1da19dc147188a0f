import { Component, lazy, type ReactNode, type Ref, Suspense } from 'react';

export interface CodeEditorHandle {
  /** Puts the cursor at a line (and column) and focuses the editor. */
  goTo(line: number, column: number | null): void;
}

export interface CodeEditorProps {
  name: string;
  value: string;
  onChange: (value: string) => void;
  /** The id of the element naming the field (its visible label). */
  labelledBy: string;
  describedBy?: string;
  invalid?: boolean;
  /** Liquid errors to mark at their line. */
  errors: { line: number; column: number | null; message: string }[];
  /** The template's variables, offered by completion. */
  variables?: string[];
  rows?: number;
  ref?: Ref<CodeEditorHandle>;
}

// CodeMirror is ~half the UI's code: loaded when a template is opened, not with the app.
const CodeMirrorEditor = lazy(() => import('./code-editor/CodeMirrorEditor.js'));

/** Shows `fallback` instead of a child that failed (the editor's chunk did not load). */
class Fallback extends Component<{ fallback: ReactNode; children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  override render() {
    return this.state.failed ? this.props.fallback : this.props.children;
  }
}

/** A code field; a plain textarea holds the text (and takes typing) until the editor has loaded, or if it cannot. */
export function CodeEditor(props: CodeEditorProps) {
  const fallback = (
    <textarea
      name={props.name}
      className="code-input"
      rows={props.rows ?? 16}
      value={props.value}
      onChange={(e) => props.onChange(e.target.value)}
      spellCheck={false}
      aria-labelledby={props.labelledBy}
      aria-describedby={props.describedBy}
      aria-invalid={props.invalid || undefined}
    />
  );
  return (
    <Fallback fallback={fallback}>
      <Suspense fallback={fallback}>
        <CodeMirrorEditor {...props} />
      </Suspense>
    </Fallback>
  );
}
