// Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`), e.g. Portcullis under wrk load
// with PROFILE=1 npm run bench. Usage: node bench/profile-summary.ts FILE.cpuprofile [TOP=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary.ts FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const root = `file://${process.cwd()}/`;

function label(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  const where = url.startsWith(root)
    ? url.slice(root.length)
    : url.replace(/^file:\/\/.*\/node_modules\//, '');
  return `${name}  ${where}:${lineNumber + 1}`;
}

const selfUs = new Map<string, number>();
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]!);
  const dt = profile.timeDeltas[i] ?? 0;
  if (!node) continue;
  if (node.callFrame.functionName === '(idle)') {
    idle += dt;
    continue;
  }
  total += dt;
  const key = label(node);
  selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
}
// Self time by file too: where the time goes, module by module.
const byFile = new Map<string, number>();
for (const [key, us] of selfUs) {
  const where = key.includes('  ') ? key.split('  ')[1]!.replace(/:\d+$/, '') : key;
  byFile.set(where, (byFile.get(where) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
process.stdout.write(
  `${file}: ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle (on-thread JS + native; excludes other threads)\n\nTop ${top} functions by self time:\n`,
);
for (const [key, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`  ${pct(us)}  ${key}\n`);
let own = 0;
for (const [where, us] of byFile) if (where.startsWith('src/')) own += us;
process.stdout.write(`\nPortcullis's own code (src/): ${pct(own).trim()} of the busy time\n`);
process.stdout.write('\nSelf time by file (top 15):\n');
for (const [where, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15))
  process.stdout.write(`  ${pct(us)}  ${where}\n`);
