import { pino, type Logger } from 'pino';

export function createLogger(name: string): Logger {
  return pino({ name, level: process.env.HOLDFAST_LOG_LEVEL ?? 'info', base: { component: name } });
}
