export { type SuppressionScope, suppressedAmong, suppressionPolicy } from './policy.js';
export {
  addressSpellings,
  addSuppression,
  ALL_SCOPES,
  findSuppression,
  type NewSuppression,
  suppressionKey,
} from './repository.js';
