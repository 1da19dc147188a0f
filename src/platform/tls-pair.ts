import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** A certificate chain and its private key, PEM. */
export interface TlsMaterial {
  key: string;
  cert: string;
}

/**
 * Reads a certificate and key pair from PEM files and checks that TLS can serve it. Throws when a
 * file is missing, empty or not PEM, or the key is not the certificate's. createSecureContext
 * alone takes an empty cert or key as none given, and makes a context every handshake fails with.
 */
export function readTls(files: { cert: string; key: string }): TlsMaterial {
  const material = { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
  if (!new X509Certificate(material.cert).checkPrivateKey(createPrivateKey(material.key)))
    throw new Error(`${files.key} is not the private key of ${files.cert}`);
  createSecureContext(material);
  return material;
}
