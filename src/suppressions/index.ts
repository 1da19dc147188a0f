export { suppressionPolicy } from './policy.js';
export { addSuppression, ALL_SCOPES, findSuppression, type NewSuppression, suppressionKey } from './repository.js';
