/** Storage and server-side sessions on a primary and a replica watched by three sentinels. */
import { closeAfter } from '../support/cleanup.ts';
import { startSentinel } from '../support/redis-shapes.ts';
import { shapeSuites } from './shape-suites.ts';

const parts = closeAfter();
shapeSuites('sentinel', startSentinel, parts);
