export { type Outcome, PostierClient, type PostierClientOptions, type Result, type SendOptions } from './client.js';
export { ATTACHMENT_TYPES, attachment, contentTypeOf } from './attachments.js';
export { PostierError } from './errors.js';
export type * from './types.js';
