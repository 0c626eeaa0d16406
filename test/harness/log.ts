// The harness's logger: pino on stderr, quiet unless OSFLEET_TEST_LOG asks for more.
import { pino } from 'pino';

export const harnessLog = pino({
  name: 'testbed',
  level: process.env.OSFLEET_TEST_LOG ?? 'info',
}, pino.destination(2));
