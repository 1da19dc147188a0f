/**
 * The template editor's code fields: CodeMirror 6 with Liquid over HTML, line numbers, Liquid
 * errors marked at their line, completion of Liquid tags, filters and the template's variables.
 * This module is loaded on demand (its own chunk): only the template page needs it.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { html } from '@codemirror/lang-html';
import { liquid } from '@codemirror/lang-liquid';
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { type Diagnostic, lintGutter, lintKeymap, setDiagnostics } from '@codemirror/lint';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { EditorSelection, EditorState } from '@codemirror/state';
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import { tags } from '@lezer/highlight';
import { useEffect, useImperativeHandle, useRef } from 'react';
import type { CodeEditorProps } from '../CodeEditor.js';

/** Colours come from the page's CSS variables, so the editor follows light and dark mode. */
const highlight = HighlightStyle.define([
  { tag: [tags.tagName, tags.angleBracket], color: 'var(--syn-tag)' },
  { tag: tags.attributeName, color: 'var(--syn-attr)' },
  { tag: [tags.attributeValue, tags.string], color: 'var(--syn-string)' },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: 'var(--syn-comment)', fontStyle: 'italic' },
  {
    tag: [tags.keyword, tags.controlKeyword, tags.definitionKeyword, tags.moduleKeyword, tags.operatorKeyword],
    color: 'var(--syn-keyword)',
    fontWeight: '600',
  },
  { tag: [tags.variableName, tags.propertyName, tags.function(tags.variableName)], color: 'var(--syn-liquid)' },
  { tag: tags.brace, color: 'var(--syn-liquid)', fontWeight: '600' },
  { tag: [tags.number, tags.bool, tags.atom], color: 'var(--syn-attr)' },
  { tag: tags.invalid, color: 'var(--bad)' },
]);

const theme = EditorView.theme({
  '&': {
    border: '1px solid var(--input-line)',
    borderRadius: 'var(--radius)',
    background: 'var(--input-bg)',
    color: 'var(--text)',
    fontSize: '12.5px',
  },
  '&.cm-focused': { outline: '2px solid var(--accent)', outlineOffset: '2px' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5', overflow: 'auto' },
  '.cm-content': { caretColor: 'var(--text)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--text)' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground': {
    background: 'var(--accent-soft)',
  },
  '.cm-gutters': {
    background: 'var(--subtle)',
    color: 'var(--muted)',
    borderRight: '1px solid var(--line)',
    borderRadius: 'var(--radius) 0 0 var(--radius)',
  },
  '.cm-activeLine': { background: 'var(--row-hover)' },
  '.cm-activeLineGutter': { background: 'var(--hover)', color: 'var(--text)' },
  '.cm-lintRange-error': { background: 'var(--bad-soft)' },
  '.cm-tooltip': { background: 'var(--panel)', color: 'var(--text)', border: '1px solid var(--line)' },
  '.cm-tooltip-autocomplete ul li[aria-selected]': { background: 'var(--accent)', color: 'var(--on-accent)' },
  '.cm-panels': { background: 'var(--subtle)', color: 'var(--text)' },
});

/** A Liquid error's line and column as a range of the document: from the column to the end of the line. */
function toDiagnostic(state: EditorState, e: { line: number; column: number | null; message: string }): Diagnostic {
  const line = state.doc.line(Math.min(Math.max(1, e.line), state.doc.lines));
  const from = Math.min(line.from + Math.max(0, (e.column ?? 1) - 1), line.to);
  return { from, to: Math.max(from, line.to), severity: 'error', message: e.message, markClass: 'cm-error-mark' };
}

export default function CodeMirrorEditor(props: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;

  useEffect(() => {
    const completions = (props.variables ?? []).map((v) => ({ label: v, type: 'variable' }));
    const state = EditorState.create({
      doc: props.value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        autocompletion(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        lintGutter(),
        syntaxHighlighting(highlight),
        // Tab is left to the browser: it moves focus out of the editor, as in any form field.
        keymap.of([
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...searchKeymap,
          ...historyKeymap,
          ...completionKeymap,
          ...lintKeymap,
        ]),
        liquid({ base: html(), variables: completions }),
        EditorView.lineWrapping,
        theme,
        // At least `rows` lines tall, and as tall as the text: the page scrolls, not a box inside it.
        EditorView.theme({ '.cm-content, .cm-gutter': { minHeight: `${(props.rows ?? 16) * 1.5}em` } }),
        EditorView.contentAttributes.of({
          'aria-labelledby': props.labelledBy,
          ...(props.describedBy ? { 'aria-describedby': props.describedBy } : {}),
          ...(props.invalid ? { 'aria-invalid': 'true' } : {}),
          'data-field': props.name,
        }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange.current(u.state.doc.toString());
        }),
      ],
    });
    const v = new EditorView({ state, parent: host.current! });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // One editor per mount: the parent remounts it for another document (another locale).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // A value set from outside (a discarded draft) replaces the document.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== props.value)
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: props.value } });
  }, [props.value]);

  // The server's errors, each marked at its line.
  useEffect(() => {
    const v = view.current;
    if (v)
      v.dispatch(
        setDiagnostics(
          v.state,
          props.errors.map((e) => toDiagnostic(v.state, e)),
        ),
      );
  }, [props.errors]);

  useImperativeHandle(
    props.ref,
    () => ({
      goTo(line: number, column: number | null) {
        const v = view.current;
        if (!v) return;
        const l = v.state.doc.line(Math.min(Math.max(1, line), v.state.doc.lines));
        const at = Math.min(l.from + Math.max(0, (column ?? 1) - 1), l.to);
        v.dispatch({ selection: EditorSelection.cursor(at), scrollIntoView: true });
        v.focus();
      },
    }),
    [],
  );

  return <div ref={host} className="code-editor" />;
}
