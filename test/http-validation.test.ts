import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { compiledOnce, registerValidation } from '../src/http/validation.js';

// The same text for a body and a query string: one must be strict, the other coerced, in every app.
const shape = () => ({
  type: 'object',
  properties: { n: { type: 'integer' } },
  required: ['n'],
  additionalProperties: false,
});
const reply = () => ({ 200: { type: 'object', properties: { n: { type: 'integer' }, kind: { type: 'string' } } } });

async function appWith(queryFirst: boolean): Promise<FastifyInstance> {
  const app = Fastify();
  registerValidation(app);
  const query = () =>
    app.get('/q', { schema: { querystring: shape(), response: reply() } }, async (req) => ({
      n: (req.query as { n: number }).n,
      kind: typeof (req.query as { n: unknown }).n,
    }));
  const body = () =>
    app.post('/b', { schema: { body: shape(), response: reply() } }, async (req) => ({
      n: (req.body as { n: number }).n,
      kind: typeof (req.body as { n: unknown }).n,
    }));
  if (queryFirst) {
    query();
    body();
  } else {
    body();
    query();
  }
  await app.ready();
  return app;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('compiled schemas shared across apps', () => {
  it('compiles a schema text once per key, whatever object carries it', () => {
    const cache = new Map<string, number>();
    let compiles = 0;
    const compile = () => ++compiles;
    expect(compiledOnce(cache, 'strict', shape(), compile)).toBe(1);
    expect(compiledOnce(cache, 'strict', shape(), compile)).toBe(1);
    expect(compiledOnce(cache, 'lenient', shape(), compile)).toBe(2);
    expect(compiledOnce(cache, 'strict', { ...shape(), required: [] }, compile)).toBe(3);
    expect(compiles).toBe(3);
  });

  it('keeps bodies strict and query strings coerced when both have the same schema text, in any order', async () => {
    for (const queryFirst of [true, false, true]) {
      const app = await appWith(queryFirst);
      apps.push(app);
      const q = await app.inject({ method: 'GET', url: '/q?n=5' });
      expect(q.statusCode).toBe(200);
      expect(q.json()).toEqual({ n: 5, kind: 'number' });
      const asText = await app.inject({ method: 'POST', url: '/b', payload: { n: '5' } });
      expect(asText.statusCode).toBe(400);
      const ok = await app.inject({ method: 'POST', url: '/b', payload: { n: 5 } });
      expect(ok.json()).toEqual({ n: 5, kind: 'number' });
      const extra = await app.inject({ method: 'POST', url: '/b', payload: { n: 5, x: 1 } });
      expect(extra.statusCode).toBe(400);
    }
  });
});
