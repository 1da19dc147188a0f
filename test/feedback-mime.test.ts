import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { extractAddress, messageIdsIn } from '../src/feedback/addresses.js';
import { decodeEncodedWords, htmlToText } from '../src/feedback/mime-decode.js';
import { embeddedHeaders, headerValue, parseParams, partText, walk } from '../src/feedback/mime.js';

const dir = path.join(import.meta.dirname, 'fixtures', 'feedback', 'reports');
const limits = { maxBytes: 1 << 20, maxParts: 64, maxTextBytes: 1 << 20 };
const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');

describe('the feedback MIME walker reads what mailparser reads', () => {
  it.each(readdirSync(dir))('%s: subject, From, Message-ID and the first text part', async (file) => {
    const raw = readFileSync(path.join(dir, file));
    const m = await simpleParser(raw);
    const w = walk(raw, limits);
    const h = w.root.headers;
    expect(headerValue(h, 'subject') ?? '').toBe(m.subject ?? '');
    expect(messageIdsIn(headerValue(h, 'message-id'))[0] ?? null).toBe(m.messageId ?? null);
    // Courier's sender is "<@>": no address at all, where mailparser reads "@".
    const theirFrom = m.from?.value[0]?.address;
    expect(extractAddress(headerValue(h, 'from'))).toBe(
      theirFrom && theirFrom !== '@' ? theirFrom.toLowerCase() : null,
    );
    const text = w.leaves.find((p) => p.type === 'text/plain');
    if (text) expect(norm(m.text ?? '')).toContain(norm(partText(text, limits.maxTextBytes)).slice(0, 300));
  });
});

describe('feedback MIME walker details', () => {
  it('decodes RFC 2047 words in any charset and joins adjacent ones', () => {
    expect(decodeEncodedWords('=?iso-8859-1?Q?R=E9ponse_automatique?= : x')).toBe('Réponse automatique : x');
    expect(decodeEncodedWords('=?UTF-8?B?6Ieq5YuV?= =?UTF-8?B?5b+c562U?=')).toBe('自動応答');
    expect(decodeEncodedWords('=?koi8-r?B?4dfUz83B1MnexdPLycogz9TXxdQ=?=')).toBe('Автоматический ответ');
    expect(decodeEncodedWords('=?x-unknown?Q?abc?=')).toBe('abc');
  });

  it('reads quoted, continued (RFC 2231) and unquoted parameters', () => {
    expect(parseParams('multipart/report; report-type=delivery-status;\tboundary="a;b c"')).toEqual({
      value: 'multipart/report',
      params: { 'report-type': 'delivery-status', boundary: 'a;b c' },
    });
    expect(parseParams('text/plain; charset*=utf-8\'\'%C3%A9; name*0="a"; name*1="b"').params).toMatchObject({
      name: 'ab',
    });
  });

  it('finds parts that start with a blank line (no headers) and decodes base64 and quoted-printable text', () => {
    const raw = crlf(
      [
        'Content-Type: multipart/mixed; boundary=XX',
        '',
        '--XX',
        '',
        'no headers here',
        '--XX',
        'Content-Type: text/plain; charset=iso-8859-1',
        'Content-Transfer-Encoding: quoted-printable',
        '',
        'caf=E9 =',
        'cr=E8me',
        '--XX',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('déjà vu').toString('base64'),
        '--XX--',
      ].join('\n'),
    );
    const w = walk(raw, limits);
    expect(w.leaves.map((p) => partText(p, 1000).trim())).toEqual(['no headers here', 'café crème', 'déjà vu']);
  });

  it('falls back to the boundary the body really uses when the declared one is never used', () => {
    const raw = crlf(
      [
        'Content-Type: multipart/report; boundary="declared"',
        '',
        '--actual',
        'Content-Type: text/plain',
        '',
        'hello',
        '--actual--',
      ].join('\n'),
    );
    expect(walk(raw, limits).leaves.map((p) => partText(p, 100).trim())).toEqual(['hello']);
  });

  it('keeps a multipart without any delimiter as one text leaf, and reads bare CR line ends', () => {
    expect(
      walk('Content-Type: multipart/mixed; boundary=z\r\n\r\njust text', limits).leaves.map((p) => p.type),
    ).toEqual(['text/plain']);
    const mac = walk('Subject: old mac\rFrom: a@example.com\r\rbody', limits);
    expect(headerValue(mac.root.headers, 'subject')).toBe('old mac');
  });

  it('stops at the part and byte limits and says so', () => {
    const many = [
      'Content-Type: multipart/mixed; boundary=b',
      '',
      ...Array.from({ length: 500 }, (_, i) => `--b\nContent-Type: text/plain\n\n${i}`),
      '--b--',
    ].join('\n');
    const w = walk(many, { ...limits, maxParts: 10 });
    expect(w.leaves.length).toBeLessThanOrEqual(10);
    expect(w.truncated).toBe(true);
    const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(2 << 20, 0x61)]);
    expect(walk(big, limits).truncated).toBe(true);
  });

  it('reads the header block of a returned message and of text/rfc822-headers', () => {
    const w = walk(
      crlf(
        [
          'Content-Type: multipart/report; boundary=q',
          '',
          '--q',
          'Content-Type: text/rfc822-headers',
          '',
          'Message-ID: <x@rgz.bj>',
          'Subject: hi',
          '--q--',
        ].join('\n'),
      ),
      limits,
    );
    expect(headerValue(embeddedHeaders(w.leaves[0]!, 1000), 'message-id')).toBe('<x@rgz.bj>');
  });

  it('turns HTML into text in one pass, whatever the markup', () => {
    expect(norm(htmlToText('<p>a<br>b</p><script>x<y</script><div>c &amp; d &#233;</div>'))).toBe('a b c & d é');
    expect(htmlToText('<'.repeat(50_000)).length).toBe(50_000);
  });
});
