export { isValidAddress, normalizeAddress, parseRecipients } from './addresses.js';
export { type Attachment, type AttachmentInput, validateAttachments } from './attachments.js';
export { IDEMPOTENCY_TTL_MS } from './idempotency.js';
export {
  type AdmissionPolicy,
  type AdmissionSubject,
  messageIdDomain,
  type SendDeps,
  type SendOptions,
  type SendRequest,
  type SendResultItem,
  SendService,
} from './send.service.js';
