import { createRequire } from 'node:module';
import type SQLiteModule from 'better-sqlite3';

/**
 * better-sqlite3, in the major that runs on this Node: 13 where Node-API 10 exists (Node 22.14
 * and later, 24), 12 otherwise (Node 20). Every SQLite connection of Postier, its tests and its
 * tools opens through this module.
 *
 * - 12 subclasses Node's `node::ObjectWrap`. From Node 24.19 its destructor removes an
 *   environment cleanup hook and asserts the current environment: a statement collected outside
 *   one (by a GC task between callbacks, at a worker thread's end, at exit) aborts the whole
 *   process (SIGABRT, "Assertion failed: (env) != nullptr").
 * - 13 is built on Node-API (version 10), which Node 20 lacks: loading it there crashes, so the
 *   choice is made from `process.versions.napi` before anything is loaded.
 *
 * Both have the same interface (the one `@types/better-sqlite3` describes) and both are held to
 * the same tests: CI runs the suite on Node 20 (12) and on Node 22 (13), and part of it on
 * Node 24 (13).
 */
const require = createRequire(import.meta.url);

/** Whether this Node runs better-sqlite3 13 (Node-API 10). */
export const nodeApiDriver = Number(process.versions.napi) >= 10;

const SQLite: typeof SQLiteModule = nodeApiDriver
  ? (require('better-sqlite3-13') as typeof SQLiteModule)
  : (require('better-sqlite3') as typeof SQLiteModule);

export default SQLite;
export type Database = SQLiteModule.Database;
export type Statement = SQLiteModule.Statement;
