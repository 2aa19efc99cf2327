// The sample upstream (src/demo/app.ts) as its own process, so the bench can read its CPU time from /proc.
// Usage: node bench/servers/app.ts PORT — prints "ready <url>" once listening.
import { startSampleApp } from '../../src/demo/app.ts';

const port = Number(process.argv[2] ?? 0);
const app = await startSampleApp({ host: '127.0.0.1', port });
process.stdout.write(`ready ${app.url}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    app.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
