import path from 'node:path';
import type { Command } from 'commander';
import type { Wired } from '../wiring.js';

type WithWired = <T>(fn: (s: Wired) => Promise<T>, level?: string) => Promise<T>;

/** Loaded by the commands that run (see main.ts): registering them costs nothing. */
const templateCode = () => import('../../templates/index.js');

/** `postier templates export|import [DIR]`: DIR defaults to EMAIL_TEMPLATES_DIR. */
export function templateCommands(program: Command, withWired: WithWired): void {
  const templates = program.command('templates').description('Templates as code: export to and import from a folder');
  templates
    .command('export [dir]')
    .description('Write the active version of every template, one folder per template')
    .action((dir: string | undefined) =>
      withWired(async (s) => {
        const { exportTemplates } = await templateCode();
        const target = path.resolve(dir ?? s.config.email.templatesDir);
        const keys = await exportTemplates(s.templates, target);
        for (const k of keys) console.log(`${k}: exported`);
        console.log(`${keys.length} templates written to ${target}`);
      }),
    );
  templates
    .command('import [dir]')
    .description('Create templates, or new versions where the content changed; prints what it did')
    .action((dir: string | undefined) =>
      withWired(async (s) => {
        const { describeOutcome, importTemplates } = await templateCode();
        const source = path.resolve(dir ?? s.config.email.templatesDir);
        const outcomes = await importTemplates(s.templateAdmin, s.config, source, 'cli');
        for (const o of outcomes) console.log(describeOutcome(o));
        console.log(`${outcomes.length} templates read from ${source}`);
      }),
    );
}
