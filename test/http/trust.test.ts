import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import {
  compileTrustedProxies,
  type ForwardedInfo,
  resolveForwarded,
  type TrustedProxies,
  trustedProxyProblems,
} from '../../src/http/trust.ts';

test('compileTrustedProxies: addresses and CIDRs, v4, v6 and IPv4-mapped', async (t) => {
  const trusted = compileTrustedProxies([
    '10.0.0.0/8',
    '192.168.1.7',
    '172.16.0.1/12', // host bits set: masked to 172.16.0.0/12
    '2001:db8::/32',
    'fd00::1',
    '::ffff:100.64.0.0/106', // IPv4-mapped CIDR = 100.64.0.0/10
    '::ffff:203.0.113.9', // IPv4-mapped address = 203.0.113.9
    ' 198.51.100.0/24 ',
  ]);
  assert.equal(trusted.any, true);
  const cases: readonly [address: string, expected: boolean][] = [
    ['10.0.0.1', true],
    ['10.255.255.255', true],
    ['11.0.0.1', false],
    ['9.255.255.255', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['172.16.0.1', true],
    ['172.31.255.254', true],
    ['172.32.0.1', false],
    ['2001:db8::1', true],
    ['2001:DB8:ffff::1', true],
    ['2001:db9::1', false],
    ['fd00::1', true],
    ['fd00:0:0:0:0:0:0:1', true],
    ['fd00::2', false],
    ['::ffff:10.1.2.3', true],
    ['::FFFF:10.1.2.3', true],
    ['::ffff:a01:203', true], // hex form of ::ffff:10.1.2.3
    ['::ffff:11.1.2.3', false],
    ['100.64.0.1', true],
    ['100.127.255.255', true],
    ['100.128.0.1', false],
    ['::ffff:100.64.0.1', true],
    ['203.0.113.9', true],
    ['::ffff:203.0.113.9', true],
    ['198.51.100.200', true],
    ['fe80::1%eth0', false],
    ['::1', false],
    ['127.0.0.1', false],
    ['', false],
    ['garbage', false],
    ['10.0.0.1:443', false],
    ['010.0.0.1', false],
    ['10.0.0', false],
    [' 10.0.0.1', false],
  ];
  for (const [address, expected] of cases) {
    await t.test(JSON.stringify(address), () => assert.equal(trusted.isTrusted(address), expected));
  }
});

test('compileTrustedProxies: empty list trusts nothing', () => {
  const none = compileTrustedProxies([]);
  assert.equal(none.any, false);
  assert.equal(none.isTrusted('127.0.0.1'), false);
  assert.equal(none.isTrusted('::1'), false);
});

test('compileTrustedProxies: everything and zones', () => {
  const all = compileTrustedProxies(['0.0.0.0/0', '::/0']);
  assert.equal(all.isTrusted('8.8.8.8'), true);
  assert.equal(all.isTrusted('2606:4700::1111'), true);
  assert.equal(all.isTrusted('::ffff:8.8.8.8'), true);
  const linkLocal = compileTrustedProxies(['fe80::/10']);
  assert.equal(linkLocal.isTrusted('fe80::1%eth0'), true);
});

test('bad trustedProxies entries: TypeError naming the entry, and problems for config validation', async (t) => {
  const bad: readonly [entry: string, problem: RegExp][] = [
    ['', /is empty/],
    ['   ', /is empty/],
    ['localhost', /host names are not supported/],
    ['proxy.internal', /host names are not supported/],
    ['10.0.0.0/33', /invalid prefix length "\/33" \(0–32\)/],
    ['10.0.0.0/-1', /invalid prefix length/],
    ['10.0.0.0/', /invalid prefix length/],
    ['10.0.0.0/8/8', /invalid prefix length/],
    ['10.0.0.0/8.5', /invalid prefix length/],
    ['10.0.0.0/ 8', /invalid prefix length/],
    ['2001:db8::/129', /invalid prefix length "\/129" \(0–128\)/],
    ['::ffff:10.0.0.0/64', /shorter than the IPv4-mapped range/],
    ['10.0.0.256', /not an IP address or CIDR/],
    ['10.0.0', /not an IP address or CIDR/],
    ['010.0.0.1', /not an IP address or CIDR/],
    ['10.0.0.1:8080', /not an IP address or CIDR/],
    ['2001:db8:::1', /not an IP address or CIDR/],
    ['[2001:db8::1]', /not an IP address or CIDR/],
    ['fe80::1%eth0', /zone/],
    ['/8', /not an IP address or CIDR/],
    ['*', /not an IP address or CIDR/],
  ];
  for (const [entry, problem] of bad) {
    await t.test(JSON.stringify(entry), () => {
      assert.throws(
        () => compileTrustedProxies(['10.0.0.0/8', entry]),
        (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.ok(error.message.startsWith(`trustedProxies[1] "${entry}" `), error.message);
          assert.match(error.message, problem);
          return true;
        },
      );
      const problems = trustedProxyProblems(['10.0.0.0/8', entry]);
      assert.equal(problems.length, 1);
      assert.match(problems[0] ?? '', problem);
    });
  }
  assert.deepEqual(trustedProxyProblems(['10.0.0.0/8', '::1', '::ffff:10.0.0.0/104', '0.0.0.0/0']), []);
  assert.equal(trustedProxyProblems(['bad', '10.0.0.0/8', 'worse/99']).length, 2);
});

const NONE = compileTrustedProxies([]);
const LB = compileTrustedProxies(['10.0.0.0/8', 'fd00::/8']);

type ForwardCase = readonly [
  name: string,
  headers: IncomingHttpHeaders,
  peer: string,
  localProto: 'http' | 'https',
  trusted: TrustedProxies,
  expected: ForwardedInfo,
];

const spoof: IncomingHttpHeaders = {
  host: 'platform.example.com',
  'x-forwarded-for': '6.6.6.6',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'evil.com',
};

const forwardCases: readonly ForwardCase[] = [
  // untrusted peers: X-Forwarded-* ignored entirely
  [
    'no trusted proxies configured: spoofed headers ignored',
    spoof,
    '203.0.113.5',
    'http',
    NONE,
    { clientIp: '203.0.113.5', proto: 'http', host: 'platform.example.com' },
  ],
  [
    'peer outside trustedProxies: spoofed headers ignored',
    spoof,
    '203.0.113.5',
    'http',
    LB,
    { clientIp: '203.0.113.5', proto: 'http', host: 'platform.example.com' },
  ],
  [
    'untrusted IPv4-mapped peer is reported as IPv4',
    { host: 'a.test' },
    '::ffff:203.0.113.5',
    'https',
    LB,
    { clientIp: '203.0.113.5', proto: 'https', host: 'a.test' },
  ],
  [
    'untrusted IPv6 peer is canonicalised',
    { host: 'a.test' },
    '2001:DB8:0:0::1',
    'https',
    NONE,
    { clientIp: '2001:db8::1', proto: 'https', host: 'a.test' },
  ],
  [
    'untrusted peer, invalid Host header',
    { host: 'evil.com/path' },
    '203.0.113.5',
    'https',
    LB,
    { clientIp: '203.0.113.5', proto: 'https', host: '' },
  ],
  [
    'untrusted peer, no Host header',
    {},
    '203.0.113.5',
    'http',
    NONE,
    { clientIp: '203.0.113.5', proto: 'http', host: '' },
  ],
  // trusted peer
  [
    'one trusted proxy',
    {
      host: 'internal:4180',
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'platform.example.com',
    },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'https', host: 'platform.example.com' },
  ],
  [
    'trusted IPv4-mapped peer',
    { host: 'a.test', 'x-forwarded-for': '198.51.100.7' },
    '::ffff:10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'http', host: 'a.test' },
  ],
  [
    'chain through two trusted proxies',
    { host: 'a.test', 'x-forwarded-for': '198.51.100.7, 10.1.1.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'http', host: 'a.test' },
  ],
  [
    'client-supplied spoof on the left is skipped: rightmost untrusted wins',
    { host: 'a.test', 'x-forwarded-for': '1.1.1.1, 6.6.6.6,198.51.100.7 ,10.1.1.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'http', host: 'a.test' },
  ],
  [
    'client spoofs a trusted address on the left: still the rightmost untrusted',
    { host: 'a.test', 'x-forwarded-for': '10.9.9.9, 198.51.100.7, 10.1.1.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'http', host: 'a.test' },
  ],
  [
    'all hops trusted: the leftmost',
    { host: 'a.test', 'x-forwarded-for': '10.3.3.3, 10.2.2.2, 10.1.1.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.3.3.3', proto: 'http', host: 'a.test' },
  ],
  [
    'several header lines (array form) are joined',
    { host: 'a.test', 'x-forwarded-for': ['6.6.6.6, 198.51.100.7', '10.1.1.1'] },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'http', host: 'a.test' },
  ],
  [
    'IPv6 hops, mapped hop normalised',
    { host: 'a.test', 'x-forwarded-for': '2001:DB8::7, ::ffff:10.1.1.1, fd00::9' },
    'fd00::1',
    'http',
    LB,
    { clientIp: '2001:db8::7', proto: 'http', host: 'a.test' },
  ],
  [
    'mapped client IP normalised',
    { host: 'a.test', 'x-forwarded-for': '::ffff:198.51.100.7' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'http', host: 'a.test' },
  ],
  [
    'ip:port and [ipv6]:port hops',
    { host: 'a.test', 'x-forwarded-for': '198.51.100.7:51234, [fd00::9]:443' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '198.51.100.7', proto: 'http', host: 'a.test' },
  ],
  [
    'malformed hop stops the walk at the last good (trusted) hop',
    { host: 'a.test', 'x-forwarded-for': '198.51.100.7, garbage, 10.1.1.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.1.1.1', proto: 'http', host: 'a.test' },
  ],
  [
    'malformed rightmost hop: the peer',
    { host: 'a.test', 'x-forwarded-for': '198.51.100.7, unknown' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'empty element stops the walk',
    { host: 'a.test', 'x-forwarded-for': '198.51.100.7,,10.1.1.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.1.1.1', proto: 'http', host: 'a.test' },
  ],
  [
    'trailing comma: the peer',
    { host: 'a.test', 'x-forwarded-for': '198.51.100.7,' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'empty X-Forwarded-For: the peer',
    { host: 'a.test', 'x-forwarded-for': '' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'no X-Forwarded-* at all: local values',
    { host: 'a.test' },
    '10.0.0.2',
    'https',
    LB,
    { clientIp: '10.0.0.2', proto: 'https', host: 'a.test' },
  ],
  [
    'X-Forwarded-For with an obfuscated identifier and a port-ish garbage',
    { host: 'a.test', 'x-forwarded-for': '_hidden, 999.1.1.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  // X-Forwarded-Proto
  [
    'proto: first value wins',
    { host: 'a.test', 'x-forwarded-proto': 'https, http' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'https', host: 'a.test' },
  ],
  [
    'proto: case-insensitive',
    { host: 'a.test', 'x-forwarded-proto': 'HTTPS' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'https', host: 'a.test' },
  ],
  [
    'proto: downgrade from a trusted proxy is honoured',
    { host: 'a.test', 'x-forwarded-proto': 'http' },
    '10.0.0.2',
    'https',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'proto: garbage falls back to the listener',
    { host: 'a.test', 'x-forwarded-proto': 'javascript' },
    '10.0.0.2',
    'https',
    LB,
    { clientIp: '10.0.0.2', proto: 'https', host: 'a.test' },
  ],
  [
    'proto: ws is not accepted',
    { host: 'a.test', 'x-forwarded-proto': 'wss' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'proto: empty first value falls back',
    { host: 'a.test', 'x-forwarded-proto': ', https' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  // X-Forwarded-Host
  [
    'host: first value wins, lower-cased, port kept',
    { host: 'a.test', 'x-forwarded-host': 'Platform.Example.com:8443, other.test' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'platform.example.com:8443' },
  ],
  [
    'host: explicit default port is kept',
    { host: 'a.test', 'x-forwarded-host': 'platform.example.com:443' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'platform.example.com:443' },
  ],
  [
    'host: IPv6 literal',
    { host: 'a.test', 'x-forwarded-host': '[2001:db8::1]:8443' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: '[2001:db8::1]:8443' },
  ],
  [
    'host: with a path falls back to Host',
    { host: 'a.test', 'x-forwarded-host': 'evil.com/x' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: with userinfo falls back to Host',
    { host: 'a.test', 'x-forwarded-host': 'a.test@evil.com' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: with a backslash falls back to Host',
    { host: 'a.test', 'x-forwarded-host': 'evil.com\\a.test' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: bad port falls back to Host',
    { host: 'a.test', 'x-forwarded-host': 'evil.com:99999' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: whitespace and CR LF inside falls back to Host',
    { host: 'a.test', 'x-forwarded-host': 'evil.com\r\nX: y' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: numeric shorthand that the parser rewrites is refused',
    { host: 'a.test', 'x-forwarded-host': '0x7f.1' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: percent-encoded host refused',
    { host: 'a.test', 'x-forwarded-host': 'ev%69l.com' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: Unicode host refused (not a wire Host)',
    { host: 'a.test', 'x-forwarded-host': 'exämple.com' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: empty first value falls back to Host',
    { host: 'a.test', 'x-forwarded-host': '' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'a.test' },
  ],
  [
    'host: both invalid gives empty',
    { host: 'a test', 'x-forwarded-host': '<script>' },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: '' },
  ],
  [
    'host: array form uses the first line',
    { host: 'a.test', 'x-forwarded-host': ['first.test', 'second.test'] as unknown as string },
    '10.0.0.2',
    'http',
    LB,
    { clientIp: '10.0.0.2', proto: 'http', host: 'first.test' },
  ],
];

test('resolveForwarded', async (t) => {
  for (const [name, headers, peer, localProto, trusted, expected] of forwardCases) {
    await t.test(name, () =>
      assert.deepEqual(resolveForwarded(headers, peer, localProto, trusted), expected),
    );
  }
});

test('resolveForwarded: Host header validation round-trip', async (t) => {
  const cases: readonly [host: string, expected: string][] = [
    ['platform.example.com', 'platform.example.com'],
    ['PLATFORM.example.com', 'platform.example.com'],
    ['localhost:4180', 'localhost:4180'],
    ['127.0.0.1:4180', '127.0.0.1:4180'],
    ['[::1]:4180', '[::1]:4180'],
    ['xn--exmple-cua.com', 'xn--exmple-cua.com'],
    ['example.com.', 'example.com.'],
    ['example.com:80', 'example.com:80'],
    ['example.com:', ''],
    ['example.com:0080', ''],
    ['example.com:65536', ''],
    ['[0:0::1]', ''],
    ['127.1', ''],
    ['a b', ''],
    ['a\tb', ''],
    ['example.com?x', ''],
    ['example.com#x', ''],
    ['user:pw@example.com', ''],
    ['', ''],
  ];
  for (const [host, expected] of cases) {
    await t.test(JSON.stringify(host), () => {
      assert.equal(resolveForwarded({ host }, '203.0.113.5', 'https', NONE).host, expected);
      // the same validation applies to X-Forwarded-Host from a trusted proxy (falling back to a valid Host)
      const viaProxy = resolveForwarded(
        { host: 'fallback.test', 'x-forwarded-host': host },
        '10.0.0.2',
        'https',
        LB,
      );
      assert.equal(viaProxy.host, expected === '' ? 'fallback.test' : expected);
    });
  }
});

test('resolveForwarded does not read X-Forwarded-* when no proxy is trusted', () => {
  const touched: string[] = [];
  const headers = new Proxy<IncomingHttpHeaders>(
    { host: 'a.test', 'x-forwarded-for': '6.6.6.6' },
    {
      get(target, key, receiver) {
        if (typeof key === 'string') touched.push(key);
        return Reflect.get(target, key, receiver);
      },
    },
  );
  const notTrusted: TrustedProxies = {
    any: false,
    isTrusted() {
      throw new Error('isTrusted must not be called when any is false');
    },
  };
  assert.deepEqual(resolveForwarded(headers, '203.0.113.5', 'http', notTrusted), {
    clientIp: '203.0.113.5',
    proto: 'http',
    host: 'a.test',
  });
  assert.deepEqual(touched, ['host']);
  touched.length = 0;
  resolveForwarded(headers, '203.0.113.5', 'http', LB);
  assert.deepEqual(touched, ['host']);
});
