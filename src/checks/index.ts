export { type CheckKind, type CheckResult, countCheck } from './count.js';
export { checkHtml, type FeatureReport, type HtmlCheck, htmlCheckResult } from './html-check.js';
export { checkLinks, type LinkCheck } from './links.js';
export { spamReport, type SpamReport } from './spamd.js';
export { HtmlCheckResult, LinkCheckItem, LinkCheckList, SpamCheckResult, SpamRules } from './schemas.js';
