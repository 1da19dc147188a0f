/** A pattern from a list of alternatives, so long phrase lists read (and diff) a few per line. */
export const anyOf = (alternatives: readonly string[], flags = 'i'): RegExp =>
  new RegExp(alternatives.join('|'), flags);
