// A fixed number of keep-alive GETs, for instruction counts (bench/callgrind.sh): wrk runs for a time, this
// for a count. Fails (exit 1) unless every answer is 200 (STATUS, e.g. 202 for forward-auth) with the same
// size as the first. HEADERS: more request headers as JSON (what nginx's auth_request sends, for example).
// Usage: [STATUS=202] [HEADERS='{"x-original-uri":"/"}'] node bench/load.ts URL COUNT [CONCURRENCY] [COOKIE]
import http from 'node:http';

const [url, countArg, concurrencyArg = '8', cookie] = process.argv.slice(2);
if (!url || !countArg) {
  process.stderr.write('usage: load.ts URL COUNT [CONCURRENCY] [COOKIE]\n');
  process.exit(2);
}
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const expected = Number(process.env['STATUS'] ?? 200);
const headers: Record<string, string> = {
  ...(JSON.parse(process.env['HEADERS'] ?? '{}') as Record<string, string>),
  ...(cookie ? { cookie } : {}),
};
let sent = 0;
let size = -1;

function one(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url!, { agent, headers }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
      });
      res.on('end', () => {
        if (res.statusCode !== expected) reject(new Error(`status ${res.statusCode}`));
        else if (size !== -1 && n !== size) reject(new Error(`body of ${n} bytes, first was ${size}`));
        else {
          size = n;
          resolve();
        }
      });
    });
    req.on('error', reject);
  });
}

async function worker(): Promise<void> {
  while (sent < count) {
    sent++;
    await one();
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
agent.destroy();
process.stdout.write(`${count} requests, ${expected}, ${size} bytes each\n`);
