export { ApiKeyService, keyView } from './service.js';
