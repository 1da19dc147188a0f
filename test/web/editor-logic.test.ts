import { describe, expect, it } from 'vitest';
import { niceScale } from '../../web/src/lib/chart.js';
import { renderErrors } from '../../web/src/lib/render-errors.js';
import { initialSampleVariables, missingRequired, parseVariables } from '../../web/src/lib/sample-vars.js';

describe('template editor logic', () => {
  it('prefills sample variables from the samples, then a placeholder per declared variable', () => {
    expect(
      initialSampleVariables({
        sample_variables: { name: 'Ada' },
        required_variables: ['name', 'amount'],
        optional_variables: ['note'],
      }),
    ).toEqual({
      name: 'Ada',
      amount: '<amount>',
      note: '',
    });
    expect(initialSampleVariables({ sample_variables: null, required_variables: [] })).toEqual({});
  });

  it('accepts only a JSON object as variables', () => {
    expect(parseVariables('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseVariables('[1]')).toEqual({ ok: false, error: 'not_an_object' });
    expect(parseVariables('{"a":')).toMatchObject({ ok: false });
  });

  it('reports required variables that are absent or null, like the server', () => {
    expect(missingRequired(['a', 'b', 'c'], { a: '', b: null })).toEqual(['b', 'c']);
  });

  it('ties Liquid errors to their field, from a preview result or a 422', () => {
    expect(
      renderErrors({
        errors: [
          { message: 'tag "ifx" not found', line: 3, column: 5, part: 'html' },
          { message: 'bad layout', part: 'template' },
        ],
      }),
    ).toEqual([
      { message: 'tag "ifx" not found', line: 3, column: 5, field: 'html_content' },
      { message: 'bad layout', line: null, column: null, field: null },
    ]);
    expect(
      renderErrors(undefined, {
        code: 'template_error',
        message: 'subject: bad',
        details: { part: 'subject', line: 1, column: 9, error: 'bad' },
      }),
    ).toEqual([{ message: 'bad', line: 1, column: 9, field: 'subject' }]);
    // A subject that renders to something unsafe in a header (the sample variables at save).
    expect(
      renderErrors(undefined, {
        code: 'invalid_header_value',
        message: 'subject must not contain control characters',
        details: { field: 'subject', part: 'subject' },
      }),
    ).toEqual([{ message: 'subject must not contain control characters', line: null, column: null, field: 'subject' }]);
    expect(renderErrors(undefined, { code: 'unauthorized', message: 'no' })).toEqual([]);
  });

  it('picks a readable chart axis', () => {
    expect(niceScale(0)).toEqual({ max: 4, ticks: [0, 1, 2, 3, 4] });
    expect(niceScale(1)).toEqual({ max: 1, ticks: [0, 1] });
    expect(niceScale(37)).toEqual({ max: 40, ticks: [0, 10, 20, 30, 40] });
    expect(niceScale(1234).max).toBe(1500);
  });
});
