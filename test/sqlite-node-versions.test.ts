import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { builtMain } from './support/processes.js';

const run = promisify(execFile);

/**
 * SQLite's driver is picked by Node-API version (src/platform/db/better-sqlite3.ts). On Node 24.19
 * and later better-sqlite3 12 aborts the process (SIGABRT) when a statement is destroyed outside
 * a JavaScript context, as happens to statements collected by the scavenges V8 runs as tasks
 * between callbacks (Postier's statement cache drops its oldest). This child churns statements
 * that way (12 aborted within a second on Node 24.21), keeps some alive until it ends, and opens
 * a connection in a worker thread as `postier serve` does; it must end with code 0 on every Node
 * CI runs.
 */
describe('SQLite driver for this Node', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-sqlite-node-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the driver for its Node-API version and ends cleanly with statements alive and collected, in a thread and at exit', async () => {
    const module = pathToFileURL(path.join(path.dirname(builtMain()), 'platform/db/better-sqlite3.js')).href;
    const file = path.join(dir, 'db.sqlite');
    const child = `
      import { Worker } from 'node:worker_threads';
      import { createRequire } from 'node:module';
      import SQLite, { nodeApiDriver } from ${JSON.stringify(module)};
      const db = new SQLite(${JSON.stringify(file)});
      db.pragma('journal_mode = WAL');
      db.exec('create table if not exists t (id integer primary key, v text)');
      // Statements made and dropped, young garbage, and a turn of the loop between rounds: V8
      // collects them in scavenges it runs as tasks between callbacks, outside any context.
      for (let round = 0; round < 200; round++) {
        for (let i = 0; i < 100; i++) db.prepare('insert into t (v) values (?) -- ' + round + '.' + i).run('x');
        let junk = [];
        for (let i = 0; i < 20000; i++) junk.push({ i, s: 'x' + i });
        junk = null;
        await new Promise((r) => setImmediate(r));
      }
      // Statements kept until the process ends.
      globalThis.kept = Array.from({ length: 50 }, (_, i) => db.prepare('select count(*) as n from t where id > ' + i));
      const rows = globalThis.kept[0].get().n;
      const inThread = await new Promise((resolve, reject) => {
        const w = new Worker(new URL('./thread.mjs', import.meta.url), {
          workerData: { module: ${JSON.stringify(module)}, file: ${JSON.stringify(file)} },
        });
        let got;
        w.on('message', (m) => (got = m));
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 ? resolve(got) : reject(new Error('thread exit ' + code))));
      });
      const version = createRequire(${JSON.stringify(module)})(nodeApiDriver ? 'better-sqlite3-13/package.json' : 'better-sqlite3/package.json').version;
      console.log(JSON.stringify({ napi: process.versions.napi, nodeApiDriver, version, rows, inThread }));
    `;
    const thread = `
      import { parentPort, workerData } from 'node:worker_threads';
      const { default: SQLite } = await import(workerData.module);
      const db = new SQLite(workerData.file);
      for (let i = 0; i < 500; i++) db.prepare('select ' + i).get();
      globalThis.kept = Array.from({ length: 50 }, (_, i) => db.prepare('select ' + i + ' as x'));
      parentPort.postMessage(globalThis.kept[7].get().x);
    `;
    writeFileSync(path.join(dir, 'thread.mjs'), thread);
    writeFileSync(path.join(dir, 'main.mjs'), child);
    const { stdout } = await run(process.execPath, [path.join(dir, 'main.mjs')], {
      cwd: path.resolve(path.dirname(builtMain()), '../..'),
      timeout: 50_000,
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      napi: string;
      nodeApiDriver: boolean;
      version: string;
      rows: number;
      inThread: number;
    };
    expect(out.rows).toBe(20_000);
    expect(out.inThread).toBe(7);
    // Node-API 10 (Node 22.14+, 24) runs better-sqlite3 13; Node 20 runs 12.
    expect(out.version.split('.')[0]).toBe(Number(out.napi) >= 10 ? '13' : '12');
    expect(out.nodeApiDriver).toBe(Number(out.napi) >= 10);
  }, 60_000);
});
