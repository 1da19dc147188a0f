import pino from 'pino';

/** JSON logs; secrets, tokens and message bodies never reach them. */
export function createLogger(level: string): pino.Logger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        '*.password',
        '*.token',
        '*.smtpPassword',
        '*.data_base64',
        '*.variables',
        'config.adminToken',
        'config.secretKey',
        'config.smtp.password',
      ],
      censor: '[redacted]',
    },
  });
}
