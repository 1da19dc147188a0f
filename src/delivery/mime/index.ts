/**
 * Postier's MIME writer: the raw message the delivery worker sends, built without Nodemailer's
 * internals (test/mime-writer.test.ts holds it to Nodemailer's output for the same messages,
 * as Python's `email` package and mailparser read both).
 */
export { buildMime, type MimeAttachment, type Sender } from './message.js';
export { DkimSigner, type DkimOptions } from './dkim.js';
export { buildSubmittedMime } from './submitted.js';
