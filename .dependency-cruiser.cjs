/**
 * Postier's layering, checked by `npm run check:layers` (part of `npm test`).
 *
 *   platform → events → features → http → app
 *
 * A layer imports only the layers to its left (and itself). Nothing imports app. A feature
 * reaches another feature only through that feature's public index.ts. Delivery never
 * imports http or templates (it sends what was rendered at accept time).
 * See docs/development.md.
 */
const FEATURES =
  '(accept|capture|checks|content|delivery|domains|feedback|keys|messages|observability|rate-limits|retention|suppressions|templates|tracking|unsubscribe|webhooks)';

module.exports = {
  forbidden: [
    {
      name: 'one-sqlite-driver',
      comment:
        'better-sqlite3 is loaded by src/platform/db/better-sqlite3.ts only: it picks 12 or 13 by Node-API version (docs/development.md, Node versions).',
      severity: 'error',
      from: { pathNot: '^src/platform/db/better-sqlite3\\.ts$' },
      to: { path: 'node_modules/better-sqlite3(-13)?/' },
    },
    {
      name: 'nothing-imports-app',
      comment: 'src/app wires everything together; only the entry point (src/main.ts) imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/app/', '^src/main\\.ts$'] },
      to: { path: '^src/app/' },
    },
    {
      name: 'platform-is-the-bottom',
      comment: 'platform/ knows nothing of events, features, http or app.',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^src/', pathNot: '^src/platform/' },
    },
    {
      name: 'events-sit-on-platform',
      comment: 'events/ imports platform/ only.',
      severity: 'error',
      from: { path: '^src/events/' },
      to: { path: '^src/', pathNot: ['^src/platform/', '^src/events/'] },
    },
    {
      name: 'features-below-http',
      comment: 'A feature never imports src/http (the app shell) or src/app.',
      severity: 'error',
      from: { path: `^src/${FEATURES}/` },
      to: { path: ['^src/http/', '^src/app/'] },
    },
    {
      name: 'features-through-index',
      comment: "A feature reaches another feature only through that feature's public index.ts.",
      severity: 'error',
      from: { path: `^src/${FEATURES}/` },
      to: { path: `^src/${FEATURES}/.+`, pathNot: [`^src/$1/`, `^src/${FEATURES}/index\\.ts$`] },
    },
    {
      name: 'delivery-never-renders',
      comment: 'Delivery sends what accept rendered: no templates, no http.',
      severity: 'error',
      from: { path: '^src/delivery/' },
      to: { path: ['^src/templates/', '^src/http/'] },
    },
    {
      name: 'http-below-app',
      comment: 'src/http (the Fastify shell) never imports src/app.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/app/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
