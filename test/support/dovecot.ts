import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

export const DOVECOT = '/usr/sbin/dovecot';

/** Whether the Dovecot binary is installed (Debian's dovecot-imapd; .ci/run installs it). */
export const hasDovecot = (): boolean => existsSync(DOVECOT);

export interface Dovecot {
  port: number;
  user: string;
  password: string;
  /** imap://user:password@127.0.0.1:port/INBOX */
  url(mailbox?: string): string;
  stop(): Promise<void>;
}

/**
 * A private Dovecot IMAP server for one test file: its own configuration, base_dir, logs and
 * Maildir in a temporary folder, listening on 127.0.0.1:<free port>, one passwd-file user, plain
 * IMAP (loopback). As root (CI), Dovecot's own unprivileged users run its processes and the mail
 * belongs to `nobody`; as anyone else, the current user runs everything.
 */
export async function startDovecot(): Promise<Dovecot> {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-dovecot-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const user = 'bounces';
  const password = 'imap-password-0123';
  const me = userInfo();
  const root = me.uid === 0;
  // Mail processes never run as root: as root, they run as nobody, which must own the mail.
  const mailUid = root ? 65534 : me.uid;
  const mailGid = root ? 65534 : me.gid;
  const home = path.join(dir, 'home');
  mkdirSync(path.join(home, 'Maildir'), { recursive: true });
  if (root) {
    chownSync(home, mailUid, mailGid);
    chownSync(path.join(home, 'Maildir'), mailUid, mailGid);
  }
  writeFileSync(path.join(dir, 'passwd'), `${user}:{PLAIN}${password}:${mailUid}:${mailGid}::${home}\n`);
  const conf = path.join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    [
      `base_dir = ${path.join(dir, 'run')}`,
      `state_dir = ${path.join(dir, 'state')}`,
      `log_path = ${path.join(dir, 'dovecot.log')}`,
      `instance_name = postier-test-${port}`,
      'protocols = imap',
      'listen = 127.0.0.1',
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain login',
      `default_internal_user = ${root ? 'dovecot' : me.username}`,
      `default_login_user = ${root ? 'dovenull' : me.username}`,
      ...(root ? [] : [`default_internal_group = ${me.username}`]),
      'first_valid_uid = 1',
      'first_valid_gid = 1',
      'mail_location = maildir:~/Maildir',
      'passdb {',
      '  driver = passwd-file',
      `  args = scheme=PLAIN username_format=%u ${path.join(dir, 'passwd')}`,
      '}',
      'userdb {',
      '  driver = passwd-file',
      `  args = username_format=%u ${path.join(dir, 'passwd')}`,
      '}',
      'service imap-login {',
      '  inet_listener imap {',
      '    address = 127.0.0.1',
      `    port = ${port}`,
      '  }',
      '  inet_listener imaps {',
      '    port = 0',
      '  }',
      '}',
      'service stats {',
      '  unix_listener stats-writer {',
      '    mode = 0666',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(DOVECOT, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  const log = () => {
    try {
      return readFileSync(path.join(dir, 'dovecot.log'), 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await waitUntil(async () => {
      if (exited) throw new Error(`dovecot exited: ${output}${log()}`);
      return log().includes('starting up');
    }, 15_000);
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    port,
    user,
    password,
    url: (mailbox = 'INBOX') => `imap://${user}:${password}@127.0.0.1:${port}/${encodeURIComponent(mailbox)}`,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
