"""Reads raw messages as Python's `email` package does (policy=default) and prints what a client
would show: decoded headers, the part tree, texts, attachment names and bytes, and defects.

Input on stdin: a JSON list of base64 messages. Output on stdout: a JSON list, one reading (or
{"error": ...}) per message. One process reads a whole batch (test/helpers/mail-readers.ts).
"""
import base64
import hashlib
import json
import sys
from email import message_from_bytes, policy


def safe(f):
    try:
        return f()
    except Exception as e:  # a reading that fails is data for the test, not a crash
        return {'error': f'{type(e).__name__}: {e}'}


def addresses(header):
    if header is None:
        return None
    return [{'name': a.display_name, 'address': a.addr_spec} for a in header.addresses]


def params(header):
    if header is None:
        return None
    return {k: v for k, v in header.params.items()}


def part(p):
    node = {
        'type': p.get_content_type(),
        'content_type_params': safe(lambda: params(p['Content-Type'])),
        'disposition': p.get_content_disposition(),
        'disposition_params': safe(lambda: params(p['Content-Disposition'])),
        'filename': safe(p.get_filename),
        'transfer_encoding': p.get('Content-Transfer-Encoding'),
        'defects': [type(d).__name__ for d in p.defects],
    }
    if p.is_multipart():
        node['children'] = [part(c) for c in p.iter_parts()]
    else:
        payload = p.get_payload(decode=True) or b''
        node['sha256'] = hashlib.sha256(payload).hexdigest()
        node['size'] = len(payload)
        if p.get_content_maintype() == 'text' and p.get_content_disposition() != 'attachment':
            node['text'] = safe(p.get_content)
    return node


def read(raw):
    m = message_from_bytes(raw, policy=policy.default)
    headers = {}
    for name in ('From', 'To', 'Cc', 'Reply-To'):
        headers[name.lower()] = safe(lambda: addresses(m[name]))
    for name in ('Subject', 'Message-ID', 'MIME-Version', 'List-Unsubscribe', 'List-Unsubscribe-Post', 'X-Custom'):
        headers[name.lower()] = safe(lambda: None if m[name] is None else str(m[name]))
    headers['date'] = safe(lambda: None if m['Date'] is None else m['Date'].datetime.isoformat())
    return {
        'header_names': [k.lower() for k in m.keys()],
        'headers': headers,
        'tree': part(m),
    }


def main():
    out = []
    for b64 in json.load(sys.stdin):
        out.append(safe(lambda: read(base64.b64decode(b64))))
    json.dump(out, sys.stdout)


main()
