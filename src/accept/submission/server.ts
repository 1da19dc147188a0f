import type { AddressInfo } from 'node:net';
import type pino from 'pino';
import type { SMTPServer, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Config } from '../../platform/config.js';
import type { Principal } from '../../platform/http/auth.js';
import { isValidAddress } from '../addresses.js';
import type { SubmissionAcceptor, SubmissionUser } from './accept.js';
import { isLoopback, LoginGuard } from '../../platform/login-guard.js';
import { submissionAuthFailures, submissionConnections, submissionMessages } from './metrics.js';
import { replyFor, SmtpReply } from './replies.js';
import { readTls } from '../../platform/tls-pair.js';
import { tlsFiles, watchTls } from './tls.js';

export interface SubmissionDeps {
  config: Pick<Config, 'dataDir' | 'submission'>;
  log: pino.Logger;
  /** API keys: the AUTH password is one. */
  keys: { authenticate(token: string): Promise<Principal | undefined> };
  acceptor: SubmissionAcceptor;
}

export interface SubmissionTuning {
  /** How often the certificate files are looked at (5 s). */
  tlsWatchMs?: number;
  /** Reply delay added per failed login (500 ms). */
  loginDelayStepMs?: number;
  /** Longest reply delay of a failed login (5 s). */
  loginMaxDelayMs?: number;
  /** Clients whose failed logins are remembered at once (10,000). */
  loginMaxTracked?: number;
}

export interface SubmissionServer {
  port: number;
  /** The implicit TLS port, when SUBMISSION_TLS_PORT is set. */
  tlsPort: number | null;
  /** PEM of the certificate in use (a client that pins it, a test). */
  certificate(): string;
  close(): Promise<void>;
}

/** RFC 5321 loopback: the only place AUTH may travel in clear text. */
/** The key is kept for the session: it is checked again for each message (a revoked key stops at once). */
type SessionUser = SubmissionUser & { token: string };
const userOf = (session: SMTPServerSession) => session.user as SessionUser | undefined;

/**
 * The SMTP submission listener (RFC 6409): STARTTLS on SUBMISSION_PORT, implicit TLS on
 * SUBMISSION_TLS_PORT when set. AUTH PLAIN or LOGIN with an API key as the password; without a
 * login no recipient is accepted (530): nothing is ever relayed for an unknown client. The 250
 * after DATA is sent once every message of the envelope is committed and on disk.
 */
export async function startSubmission(deps: SubmissionDeps, tuning: SubmissionTuning = {}): Promise<SubmissionServer> {
  const { config, log, keys, acceptor } = deps;
  const settings = config.submission;
  const { SMTPServer } = await import('smtp-server');
  const files = tlsFiles(config);
  let tls = readTls(files);
  const guard = new LoginGuard({
    maxFailures: settings.authMaxFailures,
    lockoutMs: settings.authLockoutSeconds * 1000,
    delayStepMs: tuning.loginDelayStepMs,
    maxDelayMs: tuning.loginMaxDelayMs,
    maxTracked: tuning.loginMaxTracked,
  });
  let fullWarnedAt = Number.NEGATIVE_INFINITY;

  const refused = (reason: string) => submissionMessages.inc({ result: 'refused', reason });
  // Sessions whose message is being accepted, and those of them whose client has gone since.
  const accepting = new Set<string>();
  const closed = new Set<string>();

  const options: SMTPServerOptions = {
    banner: 'Postier submission',
    size: settings.maxBytes,
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH is checked in onAuth: allowed in clear text from loopback only.
    allowInsecureAuth: true,
    // MAIL is allowed before AUTH; RCPT is not (530), so the refusal names the missing login.
    authOptional: true,
    hideSMTPUTF8: true,
    disableReverseLookup: true,
    logger: false,
    socketTimeout: 120_000,
    closeTimeout: 5000,
    key: tls.key,
    cert: tls.cert,
    onConnect(_session, callback) {
      submissionConnections.inc();
      callback();
    },
    onClose(session) {
      if (accepting.has(session.id)) closed.add(session.id);
    },
    onAuth(auth, session, callback) {
      const address = session.remoteAddress;
      if (!session.secure && !isLoopback(address)) {
        submissionAuthFailures.inc({ kind: 'cleartext' });
        return callback(new SmtpReply(530, '5.7.0', 'tls_required', 'Must issue a STARTTLS command first'));
      }
      void (async () => {
        const attempt = await guard.admit(address);
        if (attempt === 'locked') {
          submissionAuthFailures.inc({ kind: 'locked' });
          return callback(
            new SmtpReply(
              454,
              '4.7.0',
              'too_many_failures',
              'Too many failed logins from this address; try again later',
            ),
          );
        }
        try {
          const principal = auth.password ? await keys.authenticate(auth.password) : undefined;
          if (!principal) {
            submissionAuthFailures.inc({ kind: 'invalid' });
            const { delayMs, locked, remembered } = attempt.fail();
            if (locked)
              log.warn(
                { address, client: attempt.client, lockout_seconds: settings.authLockoutSeconds },
                'submission: logins refused for an address after repeated failures',
              );
            if (!remembered && Date.now() - fullWarnedAt >= 60_000) {
              fullWarnedAt = Date.now();
              log.warn(
                { address, lockout_seconds: settings.authLockoutSeconds },
                'submission: too many clients are locked out to remember more: failed logins of the others are answered after the longest delay',
              );
            }
            await new Promise((r) => setTimeout(r, delayMs));
            return callback(null, { message: '5.7.8 Authentication credentials invalid', responseCode: 535 });
          }
          // The client's failures stay: they expire with their window, not with a good key.
          attempt.succeed();
          callback(null, { user: { principal, token: auth.password! } satisfies SessionUser });
        } finally {
          // The key could not be checked: nothing counted, the client's next login may go ahead.
          attempt.abandon();
        }
      })().catch((e: unknown) => {
        log.error({ err: e }, 'submission: login could not be checked');
        callback(new SmtpReply(454, '4.7.0', 'unavailable', 'Temporary authentication failure; try again later'));
      });
    },
    onMailFrom(address, session, callback) {
      // Not offered (hideSMTPUTF8): a client must not use it (RFC 6531 §3.4), and one that does
      // is told so now rather than having its non-ASCII addresses refused one by one later.
      if (address.args && (address.args as Record<string, unknown>).SMTPUTF8 !== undefined)
        return callback(new SmtpReply(555, '5.5.4', 'smtputf8_unsupported', 'SMTPUTF8 is not offered here'));
      const user = userOf(session);
      if (user && address.address) {
        try {
          acceptor.checkSender(user, address.address);
        } catch (e) {
          return callback(replyFor(e));
        }
      }
      callback();
    },
    onRcptTo(address, session, callback) {
      if (!userOf(session)) return callback(new SmtpReply(530, '5.7.0', 'auth_required', 'Authentication required'));
      if (session.envelope.rcptTo.length >= settings.maxRecipients)
        return callback(
          new SmtpReply(
            452,
            '4.5.3',
            'too_many_recipients',
            `At most ${settings.maxRecipients} recipients per message`,
          ),
        );
      if (!isValidAddress(address.address))
        return callback(new SmtpReply(553, '5.1.3', 'invalid_address', `Not a valid recipient address`));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      // A client that goes away mid-DATA: the stream is destroyed, 'end' never comes, nothing is stored.
      stream.on('error', () => refused('disconnected'));
      stream.on('data', (c: Buffer) => {
        if (!stream.sizeExceeded) chunks.push(c);
      });
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          refused('too_large');
          return callback(
            new SmtpReply(552, '5.3.4', 'too_large', `The message is larger than ${settings.maxBytes} bytes`),
          );
        }
        const user = userOf(session)!;
        const envelope = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: session.envelope.rcptTo.map((r) => r.address),
        };
        keys
          .authenticate(user.token)
          .then((still) => {
            // Made only when needed: an Error records its stack, 27 µs a message in the submission bench's profile.
            if (!still) throw new SmtpReply(530, '5.7.0', 'key_revoked', 'The key of this session is no longer valid');
            accepting.add(session.id);
            return acceptor.accept(user, envelope, Buffer.concat(chunks), () => closed.has(session.id));
          })
          .finally(() => {
            accepting.delete(session.id);
            closed.delete(session.id);
          })
          .then(
            (r) => {
              submissionMessages.inc({ result: 'accepted', reason: r.replayed ? 'replayed' : 'stored' });
              const ids = r.items.map((i) => i.id);
              const named = r.messageId ? `${r.messageId} ` : '';
              callback(
                null,
                `2.0.0 Ok: queued as ${named}(${ids.length} message${ids.length === 1 ? '' : 's'}: ${ids.slice(0, 3).join(' ')}${ids.length > 3 ? ' …' : ''})`,
              );
            },
            (e: unknown) => {
              const reply = replyFor(e);
              if (reply.responseCode === 451) log.error({ err: e }, 'submission: a message could not be stored');
              refused(reply.reason);
              callback(reply);
            },
          );
      });
    },
  };

  const servers: SMTPServer[] = [new SMTPServer(options)];
  if (settings.tlsPort !== undefined) servers.push(new SMTPServer({ ...options, secure: true }));
  // A client that resets or drops its connection is not a fault of the listener: logged at info.
  const clientGone = (err: Error) =>
    ['ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes((err as { code?: string }).code ?? '');
  for (const s of servers)
    s.on('error', (err: Error) =>
      clientGone(err)
        ? log.info({ err: err.message }, 'submission: a client connection ended abruptly')
        : log.error({ err }, 'submission: SMTP server error'),
    );
  const listen = (s: SMTPServer, port: number) =>
    new Promise<number>((resolve, reject) => {
      s.server.once('error', reject);
      s.listen(port, settings.host, () => {
        s.server.off('error', reject);
        resolve((s.server.address() as AddressInfo).port);
      });
    });
  const ports: number[] = [];
  try {
    ports.push(await listen(servers[0]!, settings.port));
    if (servers[1]) ports.push(await listen(servers[1], settings.tlsPort!));
  } catch (e) {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    throw e;
  }
  const stopWatching = watchTls(
    files,
    (material) => {
      tls = material;
      for (const s of servers) s.updateSecureContext(material);
      log.info({ cert: files.cert }, 'submission: TLS certificate reloaded');
    },
    (err) =>
      log.warn(
        { err, cert: files.cert },
        'submission: TLS files changed but cannot be used; keeping the previous pair',
      ),
    tuning.tlsWatchMs,
  );
  log.info(
    { host: settings.host, port: ports[0], tls_port: ports[1] ?? null, cert: files.cert, self_signed: files.generated },
    'SMTP submission listening',
  );
  return {
    port: ports[0]!,
    tlsPort: ports[1] ?? null,
    certificate: () => tls.cert,
    async close() {
      stopWatching();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
