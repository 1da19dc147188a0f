export { type CheckResult, type CheckStatus, type DomainChecks, dkimPublicKey } from './checks.js';
export { type DnsLookup, dnsLookup } from './dns.js';
export { startDomainChecks } from './scheduler.js';
export { DomainService, type DomainView, type SendingDomain, sendingDomains } from './service.js';
