export { TemplateAdmin, type SaveOptions, type SaveOutcome } from './admin.service.js';
export { readTemplatesDir, type TemplateDefinition } from './definition.js';
export { describeOutcome, exportTemplates, importTemplates } from './files.js';
export { readLayouts } from './layouts.js';
export { DEFAULT_TEMPLATES_DIR, LAYOUTS_DIR } from './paths.js';
export { seedDefaultTemplates } from './seed.js';
export { type Renderable, type ResolvedTemplate, TemplateService, type TemplateSettings } from './service.js';
export { SAFE_SCHEMES, schemeOf, startTagAttributes } from './url-safety.js';
export { MASK } from './sensitive.js';
