export { attachmentsWithData, type AttachmentWithData } from './attachments.js';
export { BLOB_GRACE_MS, deleteUnreferenced, sweepUnreferenced } from './collect.js';
export { type Content, ContentStore, INLINE_MAX_BYTES } from './store.js';
export { readContent } from './read.js';
export {
  type Body,
  BodyIdPool,
  type BodyRow,
  BODY_ENCODING,
  decodeBody,
  deleteUnreferencedBodies,
  encodeBody,
  type EncodedBody,
  encodeAllAhead,
  reserveBodies,
  storeBodies,
  sweepUnreferencedBodies,
  withBodies,
  withJoinedBody,
} from './bodies.js';
export { MOVE_BATCH, moveInlineBodies, type MoveResult } from './body-move.js';
