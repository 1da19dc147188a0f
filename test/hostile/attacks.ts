import { notification, signEnvelope, type TestSigner, TOPIC_ARN } from '../helpers/sns.js';
import { pick } from './random.js';

export interface Attack {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  describe?: unknown;
}

interface Ctx {
  rnd: () => number;
  signer: TestSigner;
  valid: { invoice: any; incident: any };
  pdf: Buffer;
  png: Buffer;
}

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789abcdef', 'content-type': 'application/json' };
const TEMPLATE_BODY = '<p>{{ ticket_number }} {{ title }} {{ priority }} {{ support_link }}</p>';
const bounce = {
  notificationType: 'Bounce',
  bounce: {
    bounceType: 'Permanent',
    bounceSubType: 'General',
    bouncedRecipients: [{ emailAddress: 'noc@rgz.bj' }],
    timestamp: '2026-11-23T10:00:00.000Z',
    feedbackId: 'x',
  },
  mail: {
    messageId: 'nope',
    timestamp: '2026-11-23T10:00:00.000Z',
    source: 'noreply@rgz.bj',
    destination: ['noc@rgz.bj'],
  },
};

export interface Kind {
  name: string;
  count: number;
  /** Every request of this kind must be refused (4xx). */
  mustRefuse?: boolean;
  make(ctx: Ctx, i: number): Attack;
}

const json = (v: unknown): Attack => ({ body: JSON.stringify(v), describe: v });
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const NASTY = [
  '\r\n',
  '\n',
  '\r',
  '\u0000',
  '\r\nBcc: victim@example.com',
  '%0d%0aBcc:x@y.z',
  '\u2028',
  '\u202e',
  '\ud83d',
  '\\',
  '"',
  "'",
  '<',
  '>',
];
const INJECTIONS = [
  "{{ ''.__class__.__mro__[1].__subclasses__() }}",
  '{{ self._TemplateReference__context }}',
  "{{ constructor.constructor('return process')() }}",
  "{% include '/etc/passwd' %}",
  "{% render '../../package.json' %}",
  '{{ 7*7 }}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, literally
  '${7*7}',
  '<%= 7*7 %>',
  '{{ this }}',
  '{{ variables.__proto__ }}',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
];
const b64 = (v: string) => Buffer.from(v).toString('base64');
/** Encoded words a client would decode into a header break, a NUL, a bidi override; one it cannot decode (UTF-7); one nested; one harmless. */
const ENCODED_WORDS = [
  '=?utf-8?Q?x=0D=0ABcc:_victim@example.com?=',
  `=?UTF-8?B?${b64('a\r\nX-Injected: 1')}?=`,
  '=?utf-8?Q?a=00b?=',
  `=?utf-8?B?${b64('\u202Egnp.exe')}?=`,
  `=?utf-8?b?${b64('\u2066x\u2069')}?=`,
  '=?iso-8859-1?Q?=85?=',
  `=?utf-16le?B?${Buffer.from('\r\n', 'utf16le').toString('base64')}?=`,
  '=?utf-7?Q?+AA0-?=',
  'x=?utf-8?Q?=0A?=y',
  '=?utf-8?Q?a b=0D?=',
  '=?utf-8?Q?=3D=3Futf-8=3FQ=3F=0D=0A=3F=3D?=',
  '=?utf-8?Q?harmless?=',
];
/** Filenames that are safe as sent and unsafe as a client decodes them. */
const DECODED_FILENAMES = [
  '=?utf-8?Q?=2E=2E=2F=2E=2E=2Fetc=2Fpasswd?=.pdf',
  `=?utf-8?B?${b64('../../etc/passwd')}?=.pdf`,
  '=?utf-8?Q?..=5C..=5Cwin?=.pdf',
  "utf-8''%2E%2E%2Fetc%2Fpasswd.pdf",
  '..%2F..%2Fetc.pdf',
  '..\uff0f..\uff0fx.pdf',
  '=?utf-8?Q?.htaccess?=.pdf',
  '=?utf-8?Q?a=0D=0AContent-Type:_text/html?=.pdf',
  `=?utf-8?B?${b64('invoice\u202Efdp')}?=.pdf`,
  '=?utf-7?Q?+AC8-?=.pdf',
];
const TYPES: unknown[] = [42, -1, 1e308, true, null, [], {}, [1, 2], { a: { b: 1 } }, '', 'x'];
const SEND_FIELDS = [
  'to',
  'template_key',
  'variables',
  'attachments',
  'cc',
  'bcc',
  'reply_to',
  'locale',
  'template_version',
];

export const kinds: Kind[] = [
  {
    name: 'malformed JSON',
    count: 400,
    mustRefuse: true,
    make({ rnd, valid }) {
      const s = JSON.stringify(valid.incident);
      const cut = Math.floor(rnd() * (s.length - 1));
      const variants = [
        s.slice(0, cut),
        `${s.slice(0, cut)}}}`,
        s.replace(/"/g, "'"),
        `${s},`,
        s.replace(':', ''),
        `[${s}`,
        s.replace('{', '{,'),
      ];
      return { body: pick(rnd, variants) };
    },
  },
  {
    name: 'deeply nested JSON',
    count: 40,
    mustRefuse: true,
    make({ rnd }) {
      const depth = 1000 + Math.floor(rnd() * 200_000);
      const open = rnd() < 0.5 ? '[' : '{"a":';
      const close = open === '[' ? ']' : '}';
      return {
        body: `{"to":"a@example.com","template_key":"x","variables":{"v":${open.repeat(depth)}1${close.repeat(depth)}}}`,
        describe: { depth },
      };
    },
  },
  {
    name: 'wrong types',
    count: 400,
    mustRefuse: true,
    make({ rnd, valid }) {
      const p = clone(valid.incident);
      const field = pick(rnd, SEND_FIELDS);
      let v = pick(rnd, TYPES);
      // A string is a legal `to`/`cc`/`bcc`/`reply_to`/`locale`: keep only values wrong for the field.
      if (field === 'variables' && typeof v === 'object' && v !== null && !Array.isArray(v)) v = 'x';
      if (['to', 'cc', 'bcc', 'reply_to', 'locale', 'template_key'].includes(field) && typeof v === 'string') v = 7;
      // An empty list is a legal value for the list fields.
      if (['to', 'cc', 'bcc', 'attachments'].includes(field) && Array.isArray(v) && v.length === 0) v = false;
      if (field === 'template_version' && typeof v === 'number' && Number.isInteger(v) && v >= 1) v = '1';
      p[field] = v;
      return { body: JSON.stringify(p), describe: { field, value: v } };
    },
  },
  {
    name: 'huge fields',
    count: 60,
    mustRefuse: true,
    make({ rnd, valid }) {
      const p = clone(valid.incident);
      const size = pick(rnd, [10_000, 100_000, 1_000_000]);
      const field = pick(rnd, ['to', 'template_key', 'reply_to', 'locale', 'cc']);
      p[field] = `${'a'.repeat(size)}@example.com`;
      return { body: JSON.stringify(p), describe: { field, size } };
    },
  },
  {
    name: 'CR/LF/NUL in addresses',
    count: 300,
    mustRefuse: true,
    make({ rnd, valid }) {
      const p = clone(valid.incident);
      const field = pick(rnd, ['to', 'cc', 'bcc', 'reply_to']);
      // An apostrophe is legal in an address (o'brien@…): every other character here is not.
      const bad = pick(
        rnd,
        NASTY.filter((c) => c !== "'"),
      );
      p[field] = rnd() < 0.5 ? `user${bad}@example.com` : `user@example.com${bad}`;
      return { body: JSON.stringify(p), describe: { field, value: p[field] } };
    },
  },
  {
    name: 'CR/LF/NUL in variables (subject, body)',
    count: 300,
    make({ rnd, valid }) {
      const p = clone(valid.incident);
      const field = pick(rnd, ['incident_number', 'title', 'description', 'priority']);
      p.variables[field] = `A${pick(rnd, NASTY)}B${pick(rnd, NASTY)}`;
      return json(p);
    },
  },
  {
    name: 'invalid UTF-8',
    count: 200,
    make({ rnd, valid }) {
      const s = Buffer.from(JSON.stringify(valid.incident));
      const bad = Buffer.from(
        pick(rnd, [[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x28, 0x8c, 0x28], [0x80]]),
      );
      const at = s.indexOf('Fiber');
      return { body: Buffer.concat([s.subarray(0, at), bad, s.subarray(at)]), describe: { bytes: [...bad] } };
    },
  },
  {
    name: 'attachments: oversized, mislabelled, bad base64',
    count: 200,
    mustRefuse: true,
    make({ rnd, valid, pdf, png }) {
      const p = clone(valid.invoice);
      const options = [
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: png.toString('base64') },
        { filename: 'a.png', content_type: 'image/png', data_base64: pdf.toString('base64') },
        { filename: 'a.json', content_type: 'application/json', data_base64: Buffer.from('{"a":').toString('base64') },
        {
          filename: 'a.csv',
          content_type: 'text/csv',
          data_base64: Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString('base64'),
        },
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: '!!!notbase64!!!' },
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: `${pdf.toString('base64')}=` },
        {
          filename: 'a.exe',
          content_type: 'application/x-msdownload',
          data_base64: Buffer.from('MZ').toString('base64'),
        },
        { filename: 'a.html', content_type: 'text/html', data_base64: Buffer.from('<script>').toString('base64') },
        {
          filename: 'a.pdf',
          content_type: 'application/pdf',
          data_base64: Buffer.concat([pdf, Buffer.alloc(11 * 1024 * 1024)]).toString('base64'),
        },
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: '' },
      ];
      p.attachments = [pick(rnd, options)];
      return {
        body: JSON.stringify(p),
        describe: { filename: p.attachments[0].filename, type: p.attachments[0].content_type },
      };
    },
  },
  {
    name: 'path traversal and control characters in filenames',
    count: 200,
    mustRefuse: true,
    make({ rnd, valid, pdf }) {
      const p = clone(valid.invoice);
      const name = pick(rnd, [
        '../../etc/passwd.pdf',
        '..\\..\\win.pdf',
        '/abs/a.pdf',
        'a\r\nContent-Type: text/html.pdf',
        'a\u0000.pdf',
        '.hidden.pdf',
        '..',
        `${'a'.repeat(300)}.pdf`,
        'a\u0007.pdf',
        'dir/a.pdf',
      ]);
      p.attachments = [{ filename: name, content_type: 'application/pdf', data_base64: pdf.toString('base64') }];
      return { body: JSON.stringify(p), describe: { filename: name } };
    },
  },
  {
    name: 'encoded words in variables (subject)',
    count: 200,
    make({ rnd, valid }) {
      const p = clone(valid.incident);
      p.variables.incident_number = `INC ${pick(rnd, ENCODED_WORDS)}${rnd() < 0.3 ? ` ${pick(rnd, ENCODED_WORDS)}` : ''}`;
      return json(p);
    },
  },
  {
    name: 'encoded words, RFC 2231 and escapes in filenames',
    count: 200,
    mustRefuse: true,
    make({ rnd, valid, pdf }) {
      const p = clone(valid.invoice);
      const name = pick(rnd, DECODED_FILENAMES);
      p.attachments = [{ filename: name, content_type: 'application/pdf', data_base64: pdf.toString('base64') }];
      return { body: JSON.stringify(p), describe: { filename: name } };
    },
  },
  {
    name: 'template injection in variables',
    count: 200,
    make({ rnd, valid }) {
      const p = clone(valid.incident);
      p.variables[pick(rnd, ['title', 'description', 'incident_number'])] = pick(rnd, INJECTIONS);
      return json(p);
    },
  },
  {
    name: 'missing and forged tokens',
    count: 300,
    mustRefuse: true,
    make({ rnd, valid }) {
      const auth = pick(rnd, [
        undefined,
        '',
        'Bearer',
        'Bearer ',
        'Basic dXNlcjpwYXNz',
        'Bearer pst_forged',
        `Bearer pst_${'A'.repeat(32)}`,
        'Bearer test-admin-token-0123456789abcdeX',
        `Bearer ${'x'.repeat(10_000)}`,
        'bearer\ttest',
        'Bearer test-admin-token-0123456789abcdef extra',
      ]);
      const url = pick(rnd, [
        '/api/v1/email/send',
        '/api/v1/email/messages',
        '/api/v1/keys',
        '/api/v1/email/templates',
      ]);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (auth !== undefined) headers.authorization = auth;
      return {
        method: url === '/api/v1/email/send' ? 'POST' : 'GET',
        url,
        headers,
        body: url === '/api/v1/email/send' ? JSON.stringify(valid.incident) : undefined,
        describe: { auth: auth?.slice(0, 40), url },
      };
    },
  },
  {
    name: 'template injection in template edits',
    count: 120,
    make({ rnd }) {
      const payload = pick(rnd, INJECTIONS);
      const part = pick(rnd, ['html_content', 'subject', 'text_content']);
      const body: Record<string, string> = {
        [part]: part === 'subject' ? `Ticket {{ ticket_number }} ${payload}` : `${TEMPLATE_BODY}${payload}`,
      };
      return {
        method: 'PUT',
        url: '/api/v1/email/templates/support_ticket_created',
        headers: ADMIN,
        body: JSON.stringify(body),
        describe: body,
      };
    },
  },
  {
    name: 'forged SNS webhooks',
    count: 200,
    mustRefuse: true,
    make({ rnd, signer }) {
      const signed = signEnvelope(notification(bounce), signer, pick(rnd, ['1', '2'] as const));
      const forgeries: Array<[string, Record<string, unknown>]> = [
        [
          'tampered message',
          { ...signed, Message: JSON.stringify({ ...bounce, bounce: { ...bounce.bounce, bounceType: 'Transient' } }) },
        ],
        ['bad signature', { ...signed, Signature: Buffer.from('forged').toString('base64') }],
        ['http cert URL', { ...signed, SigningCertURL: signed.SigningCertURL!.replace('https:', 'http:') }],
        [
          'foreign cert host',
          { ...signed, SigningCertURL: 'https://evil.example.com/SimpleNotificationService-x.pem' },
        ],
        [
          'lookalike cert host',
          { ...signed, SigningCertURL: 'https://sns.eu-west-1.amazonaws.com.evil.example/a.pem' },
        ],
        [
          'cert path traversal',
          { ...signed, SigningCertURL: 'https://sns.eu-west-1.amazonaws.com/../../etc/passwd.pem' },
        ],
        [
          'unknown topic',
          signEnvelope(notification(bounce, { topicArn: TOPIC_ARN.replace('postier', 'other') }), signer),
        ],
        ['unknown signature version', { ...signed, SignatureVersion: '3' }],
        ['missing fields', { Type: 'Notification', Message: '{}' }],
      ];
      const [what, envelope] = pick(rnd, forgeries);
      return {
        url: '/api/v1/email/webhook',
        headers: { 'content-type': 'text/plain; charset=UTF-8' },
        body: JSON.stringify(envelope),
        describe: { what },
      };
    },
  },
];
