export { isValidAddress, normalizeAddress, parseRecipients } from './addresses.js';
export { type Attachment, type AttachmentInput, validateAttachments } from './attachments.js';
export { IDEMPOTENCY_TTL_MS } from './idempotency.js';
export { checkSenderAllowed, parseAllowedFrom, parseSender, type ParsedSender } from './sender.js';
export { checkCategory, checkMetadata, checkTags } from './options.js';
export {
  type Admission,
  type AdmissionPolicy,
  admissionOf,
  type BatchEntry,
  type BatchOutcome,
  type SendHooks,
  messageIdDomain,
  type SendDeps,
  type SendOptions,
  type SendRequest,
  type SendResultItem,
  SendService,
  type Verdict,
} from './send.service.js';
export { eraseFromSpool } from './submission/spool.js';
