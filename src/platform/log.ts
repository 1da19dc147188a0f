import pino from 'pino';

/**
 * JSON logs; secrets, tokens and message bodies never reach them.
 * `destination`: where lines go (stdout by default; tests capture them).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): pino.Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        '*.password',
        '*.token',
        '*.smtpPassword',
        '*.data_base64',
        '*.variables',
        // A send body logged whole (a debug line, an error's context) nests them deeper.
        '*.attachments[*].data_base64',
        '*.*.attachments[*].data_base64',
        '*.*.variables',
        '*.sealed_content',
        'config.adminToken',
        'config.secretKey',
        'config.smtp.password',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
