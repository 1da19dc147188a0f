export { type Accepted, type AcceptDeps, SubmissionAcceptor, type SubmissionUser } from './accept.js';
export { type SubmissionDeps, type SubmissionServer, type SubmissionTuning, startSubmission } from './server.js';
export {
  eraseFromSpool,
  type IngestDeps,
  type IngestOptions,
  SpoolFlow,
  SpoolIngester,
  SubmissionSpool,
} from './spool.js';
