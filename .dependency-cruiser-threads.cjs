/**
 * What the threads of `postier serve` load, checked on runtime imports only (type-only imports
 * are erased at build): `npm run check:layers` runs it after `.dependency-cruiser.cjs`.
 *
 * The delivery and submission-ingest threads each load their own copy of every module they
 * reach. The HTTP side (Fastify, the routes, their TypeBox schemas: about 700 files) costs a
 * thread 0.4 s at each start and memory for nothing, so a feature's index.ts exports no route
 * and no schema the threads would reach. The delivery thread also stays off the API side's
 * packages (it sends what accept rendered). See docs/development.md, Layers.
 */
module.exports = {
  forbidden: [
    {
      name: 'threads-load-no-http',
      comment:
        "The delivery and ingest threads never load the HTTP side: import a feature's routes from its http.ts, not its index.ts.",
      severity: 'error',
      from: { path: '^src/app/(delivery|ingest)-thread-entry\\.ts$' },
      to: {
        path: ['node_modules/(fastify|@fastify/[^/]+|typebox)/', '^src/http/', '^src/[a-z-]+/(http|schemas)\\.ts$'],
        reachable: true,
      },
    },
    {
      name: 'delivery-thread-no-api-packages',
      comment:
        'The delivery thread opens the delivery core only: the packages of the API side (templates, the SMTP listener, MIME parsing) cost it tens of MB (peak RSS draining 100k messages: 355 MB with them, 249 MB without). A lazy import() counts as reached.',
      severity: 'error',
      from: { path: '^src/app/delivery-thread-entry\\.ts$' },
      to: {
        path: 'node_modules/(liquidjs|juice|html-to-text|smtp-server|mailparser)/',
        reachable: true,
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: false,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
