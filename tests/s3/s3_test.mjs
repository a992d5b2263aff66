// framepair against a real S3-compatible server: s3rver (npm), started here as a process on
// 127.0.0.1, behind a small proxy that checks every request's SigV4 signature (s3rver checks
// only the key id) and injects faults (503 storms, a server killed mid-upload). What framepair
// wrote is read back with a second, independent client (@aws-sdk/client-s3) and compared with
// `framepair run --out DIR` on the same pair: keys, sizes, sha256. The service system runs on
// the bucket too (`--storage-root s3://...`, scripts/local-stack.sh on loopback), compared with
// the same job on a directory storage root.
//
//   node s3_test.mjs --build BUILD_DIR --case NAME     (cases: see CASES below)
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';

const here = path.dirname(fileURLToPath(import.meta.url));
const KEY = 'S3RVER';  // s3rver's built-in account
const SECRET = 'S3RVER';
const BUCKET = 'fp-bucket';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const build = arg('build');
const caseName = arg('case');
const work = fs.mkdtempSync(path.join(os.tmpdir(), `framepair-s3-${caseName}-`));
const framepair = path.join(build, 'client', 'framepair');
const localStack = path.join(here, '..', '..', 'scripts', 'local-stack.sh');
const footageTool = path.join(build, 'tests', 'support', 'framepair-footage');

function fail(message) {
  console.error(`FAIL [${caseName}]: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}
function check(condition, message) {
  if (!condition) fail(message);
}
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

// s3rver as a child process on a free port; resolves when it listens.
function startS3rver(dir, port = 0) {
  return new Promise((resolve, reject) => {
    // By its script: node_modules/.bin has no s3rver, as @20minutes/s3rver (s3_copy_test.cc)
    // claims the same command name.
    const child = spawn(process.execPath, [path.join(here, 'node_modules', 's3rver', 'bin', 's3rver.js'),
      '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--configure-bucket', BUCKET]);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${out}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on 127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', () => clearTimeout(timer));
  });
}

// --- SigV4, computed independently of libcurl, with the secret s3rver's account has. ---
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

function signatureProblem(req, body) {
  const auth = req.headers.authorization || '';
  const m = auth.match(/^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/);
  if (!m) return 'no SigV4 Authorization header';
  const [, key, date, region, signed, signature] = m;
  if (key !== KEY) return 'unknown key id';
  const payload = req.headers['x-amz-content-sha256'];
  if (payload !== 'UNSIGNED-PAYLOAD' && payload !== sha256(body)) return 'payload hash differs';
  const [rawPath, rawQuery = ''] = req.url.split('?');
  const query = rawQuery === '' ? '' : rawQuery.split('&').map((kv) => {
    const [k, v = ''] = kv.split('=');
    return [enc(decodeURIComponent(k)), enc(decodeURIComponent(v))];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const names = signed.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'host or date not signed';
  const headers = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, rawPath, query, headers, signed, payload].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope, sha256(canonical)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, date), region), 's3'), 'aws4_request');
  return hmac(signingKey, toSign).toString('hex') === signature ? null : 'SignatureDoesNotMatch';
}

// A proxy in front of s3rver: checks signatures, records requests, injects faults.
function startProxy(upstream) {
  const state = { upstream, requests: [], fault: () => null };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const entry = { method: req.method, url: req.url };
      state.requests.push(entry);
      const problem = signatureProblem(req, body);
      if (problem) {
        entry.status = 403;
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0"?><Error><Code>${problem === 'SignatureDoesNotMatch' ? problem : 'AccessDenied'}</Code><Message>${problem}</Message></Error>`);
        return;
      }
      // s3rver has no AbortMultipartUpload (405): answer as S3 does, so that the client's
      // abort is recorded and checked (failing_parts_are_aborted).
      if (req.method === 'DELETE' && /[?&]uploadId=/.test(req.url)) {
        entry.status = 204;
        res.writeHead(204);
        res.end();
        return;
      }
      const injected = state.fault(entry);
      if (injected === 'drop') {
        req.socket.destroy();
        return;
      }
      if (injected) {
        entry.status = injected;
        res.writeHead(injected, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>');
        return;
      }
      const up = http.request({
        host: '127.0.0.1', port: state.upstream, method: req.method, path: req.url,
        headers: req.headers,
      }, (r) => {
        entry.status = r.statusCode;
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', () => req.socket.destroy());  // a dead server looks dead through the proxy
      up.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    state.port = server.address().port;
    state.close = () => new Promise((r) => server.close(r));
    resolve(state);
  }));
}

function client(port) {
  return new S3Client({
    endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: KEY, secretAccessKey: SECRET },
  });
}

// Every object under `prefix`, with size and sha256, read by the independent client.
const REPORT_FILES = ['report.binpb', 'report.html'];

// The report objects of `got` (objects()), removed from it; fails unless both are there.
async function reportObjects(s3, prefix, got) {
  for (const name of REPORT_FILES) {
    check(name in got && got[name].size > 0, `no ${name} object beside the shards`);
    delete got[name];
  }
  const page = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}report.html` }));
  const html = Buffer.from(await page.Body.transformToByteArray()).toString();
  check(html.startsWith('<!DOCTYPE html>') && html.includes('</html>'), 'report.html is not the report page');
}

async function objects(s3, prefix) {
  const out = {};
  let token;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key }));
      const bytes = Buffer.from(await got.Body.transformToByteArray());
      out[o.Key.slice(prefix.length)] = { size: o.Size, sha256: sha256(bytes) };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

// The dataset files of a directory run. report.binpb and report.html are compared apart
// (reportObjects): they name the output location, so their bytes differ between a directory
// and a bucket.
function directory(dir) {
  const out = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (REPORT_FILES.includes(name)) continue;
    const bytes = fs.readFileSync(path.join(dir, name));
    out[name] = { size: bytes.length, sha256: sha256(bytes) };
  }
  return out;
}

// The default pair, encoded once per machine into the footage cache and shared by every case
// (and the C++ suites): read, never change.
async function footage() {
  const r = await run(footageTool, ['--cached']);
  check(r.code === 0, `framepair-footage failed: ${r.err}`);
  const file = (side) => (r.out.match(new RegExp(`^${side}: (\\S+) \\(`, 'm')) || [])[1];
  check(file('lr') && file('hr'), `framepair-footage printed no paths: ${r.out}`);
  return { lr: file('lr'), hr: file('hr') };
}

const OPTIONS = ['--windows', '24', '--shards', '3', '--seed', '5', '--val-windows', '4'];
function s3env(proxy, extra = {}) {
  return {
    AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET, AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: `http://127.0.0.1:${proxy.port}`,
    // Small parts so that the test's shards take the multipart path; short backoff.
    FRAMEPAIR_S3_PART_BYTES: '65536', FRAMEPAIR_S3_BACKOFF_MS: '5',
    ...extra,
  };
}
const runOut = (f, out, env) => run(framepair, ['run', '-q', '--lr', f.lr, '--hr', f.hr, '--out', out, ...OPTIONS], env);
const isTrainOrVal = (key) => /(^|\/)train_[^/]*\.tfrecord$/.test(key) || /(^|\/)validate\.tfrecord$/.test(key);


// --- The service system (scripts/local-stack.sh) on a storage root. ---
const STORAGE_PREFIX = 'stor';
const JOB_OPTIONS = ['--windows', '24', '--shards', '3', '--seed', '5', '--val-windows', '4'];
let stacks = 0;

// Starts a stack on `storage` (a directory or s3://...); `env` for every server, `workerEnv`
// ("NAME=value ...") for the workers only. Ports from the pid, as the C++ service tests do.
async function startStack(storage, env = {}, workerEnv = '') {
  const dir = path.join(work, `stack${stacks}`);
  const port = 30000 + (process.pid % 1500) * 20 + 10 * (stacks++ % 2);
  const r = await run(localStack, ['up', '--dir', dir, '--port', String(port), '--bin', build,
    '--storage', storage], { ...env, FRAMEPAIR_WORKER_ENV: workerEnv });
  check(r.code === 0, `local-stack.sh up failed: ${r.out}${r.err}`);
  const stack = { dir, server: `127.0.0.1:${port}`, env };
  stack.cli = (args) => run(framepair, ['--server', stack.server, ...args], env);
  stack.down = () => run(localStack, ['down', '--dir', dir]);
  stack.logs = () => fs.readdirSync(path.join(dir, 'logs'))
    .map((f) => fs.readFileSync(path.join(dir, 'logs', f), 'utf8')).join('\n');
  return stack;
}

// Submits the pair as a job into `dataset` and follows it; returns { code, job, status }.
async function submitJob(stack, f, dataset, extra = []) {
  const r = await stack.cli(['submit', '--lr', f.lr, '--hr', f.hr, '--dataset', dataset, '-q',
    '--watch', ...JOB_OPTIONS, ...extra]);
  const job = r.out.trim().split('\n')[0].trim();
  const status = await stack.cli(['status', job, '-o', 'json']);
  return { code: r.code, job, out: r.out + r.err, status: status.out };
}

// sha256 of each training shard by shard number, and of validate.tfrecord.
function examplesOf(files) {
  const out = {};
  for (const [name, f] of Object.entries(files)) {
    const m = name.match(/^train_.*(\d{5})-of-(\d{5})\.tfrecord$/);
    if (m) out[`shard ${m[1]} of ${m[2]}`] = f.sha256;
    if (name === 'validate.tfrecord') out[name] = f.sha256;
  }
  return out;
}

function directoryFiles(dir) {
  const out = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (!fs.statSync(file).isFile()) continue;
    const bytes = fs.readFileSync(file);
    out[name] = { size: bytes.length, sha256: sha256(bytes) };
  }
  return out;
}

const CASES = {
  // The service system on a bucket: the job's dataset holds exactly the manifest's files,
  // byte for byte what the same job makes on a directory storage root, and no work or
  // staging object is left anywhere under the storage prefix. Then the dataset commands on
  // it: datasets, fetch, report, a duplicate submission and submit --replace.
  async service_matches_directory(env) {
    const f = await footage();
    const posix = await startStack(path.join(work, 'posix-storage'));
    let want;
    try {
      const done = await submitJob(posix, f, 'ds');
      check(done.code === 0, `the job failed on a directory root: ${done.out}${done.status}`);
      want = examplesOf(directoryFiles(path.join(work, 'posix-storage', 'datasets', 'ds')));
    } finally {
      await posix.down();
    }
    const bucket = await startStack(`s3://${BUCKET}/${STORAGE_PREFIX}`, s3env(env.proxy));
    try {
      const done = await submitJob(bucket, f, 'ds');
      check(done.code === 0, `the job failed on a bucket root: ${done.out}${done.status}`);
      check(done.status.includes(`s3://${BUCKET}/${STORAGE_PREFIX}/datasets/ds`),
        `the job's dataset path is not the bucket's: ${done.status}`);
      const prefix = `${STORAGE_PREFIX}/datasets/ds/`;
      const got = await objects(env.s3, prefix);
      const manifest = JSON.parse((await env.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}manifest.json` })).then((o) => o.Body.transformToString())));
      const listed = [...manifest.shards.map((s) => s.file), manifest.validation.file, 'manifest.json'].sort();
      check(JSON.stringify(Object.keys(got).sort()) === JSON.stringify(listed),
        `the dataset prefix holds ${Object.keys(got)}, not exactly ${listed}`);
      for (const s of manifest.shards) {
        check(got[s.file].size === Number(s.bytes), `${s.file}: ${got[s.file].size} bytes, manifest says ${s.bytes}`);
      }
      const have = examplesOf(got);
      check(Object.keys(have).length === 4 && JSON.stringify(have) === JSON.stringify(want),
        `the bucket's shards differ from the directory root's:\n${JSON.stringify(have)}\n${JSON.stringify(want)}`);
      const all = Object.keys(await objects(env.s3, `${STORAGE_PREFIX}/`));
      const stray = all.filter((k) => !k.startsWith('footage/sha256/') && !k.startsWith('datasets/ds/'));
      check(stray.length === 0, `work or staging objects left behind: ${stray}`);
      check(all.filter((k) => k.startsWith('footage/')).length === 2, `footage objects: ${all}`);
      const v = await run(framepair, ['verify', `s3://${BUCKET}/${prefix}`], s3env(env.proxy));
      check(v.code === 0, `verify of the service's dataset failed (${v.code}): ${v.out}${v.err}`);

      // The coordinator serves the bucket's datasets as a directory's: `datasets` lists it,
      // `fetch` downloads exactly the bucket's objects, `report` says why there is no page.
      const listing = await bucket.cli(['datasets', '-o', 'json']);
      check(listing.code === 0, `datasets failed (${listing.code}): ${listing.err}`);
      const ds = (JSON.parse(listing.out).datasets ?? []).find((d) => d.name === 'ds');
      check(ds && ds.path === `s3://${BUCKET}/${STORAGE_PREFIX}/datasets/ds` &&
        ds.jobs?.length === 1 && ds.jobs[0].job_id === done.job, `datasets lists: ${listing.out}`);
      const to = path.join(work, 'fetched');
      const fetched = await bucket.cli(['fetch', 'ds', '--to', to]);
      check(fetched.code === 0, `fetch from a bucket root failed (${fetched.code}): ${fetched.err}`);
      check(JSON.stringify(directoryFiles(to)) === JSON.stringify(got),
        `fetch differs from the bucket:\n${JSON.stringify(directoryFiles(to))}\n${JSON.stringify(got)}`);
      const page = await bucket.cli(['report', done.job, '-o', path.join(work, 'page.html')]);
      check(page.code !== 0 && /object storage root/.test(page.err), `report: ${page.code} ${page.err}`);

      // The same footage and options again: the footage is found in the bucket (not sent
      // again), and the job refused at submission, before any work.
      const dup = await bucket.cli(['submit', '--lr', f.lr, '--hr', f.hr, '--dataset', 'ds',
        ...JOB_OPTIONS]);
      check(dup.code !== 0 && /already holds job/.test(dup.err), `a duplicate was accepted: ${dup.code} ${dup.out}${dup.err}`);
      check((dup.err.match(/already on the coordinator/g) ?? []).length === 2,
        `the footage in the bucket was not found: ${dup.err}`);
      // --replace: the new job's shards replace the old one's, whose objects go.
      const again = await submitJob(bucket, f, 'ds', ['--replace']);
      check(again.code === 0, `--replace failed on a bucket root: ${again.out}${again.status}`);
      const replaced = await objects(env.s3, prefix);
      const next = JSON.parse((await env.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}manifest.json` })).then((o) => o.Body.transformToString())));
      check(next.pairs.length === 1 && next.pairs[0].job_id === again.job, `pairs after --replace: ${JSON.stringify(next.pairs)}`);
      const nextListed = [...next.shards.map((s) => s.file), next.validation.file, 'manifest.json'].sort();
      check(JSON.stringify(Object.keys(replaced).sort()) === JSON.stringify(nextListed),
        `after --replace the prefix holds ${Object.keys(replaced)}, not exactly ${nextListed}`);
      check(JSON.stringify(examplesOf(replaced)) === JSON.stringify(want), 'the replacing job\'s shards differ');
      // `datasets rm`: the manifest, then every file it listed, go from the bucket.
      const rm = await bucket.cli(['datasets', 'rm', 'ds']);
      check(rm.code === 0, `datasets rm failed on a bucket root (${rm.code}): ${rm.err}`);
      const left = Object.keys(await objects(env.s3, prefix));
      check(left.length === 0, `objects left after datasets rm: ${left}`);
    } finally {
      await bucket.down();
    }
  },

  // Work files in the bucket that no live attempt owns are swept: a dead job's at the
  // coordinator's start, a running job's retried or fenced attempt's within the periodic sweep
  // (30 s); the current attempts' files stay until the job is published, then go too.
  async service_sweeps_dead_work(env) {
    const f = await footage();
    const put = (key) => env.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${STORAGE_PREFIX}/${key}`, Body: 'x' }));
    // Names only: objects() would race the sweep between listing and reading.
    const keys = async (prefix) => {
      const out = [];
      let token;
      do {
        const page = await env.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${STORAGE_PREFIX}/${prefix}`, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out.push(o.Key.slice(STORAGE_PREFIX.length + 1 + prefix.length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    };
    const until = async (what, predicate, seconds) => {
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        if (await predicate()) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      fail(`timed out waiting until ${what}`);
    };
    await put('work/jdead00000000/pack-00000.a1/train_jdead00000000_00000-of-00001.tfrecord');
    await put('work/jdead00000000/ingest-lr.a2/lr.frames');
    const bucket = await startStack(`s3://${BUCKET}/${STORAGE_PREFIX}`, s3env(env.proxy));
    try {
      await until('the dead job\'s work files are swept at start',
        async () => (await keys('work/jdead00000000/')).length === 0, 20);
      // A running job, held before packing (the packer stopped), with a dead attempt's files.
      const packer = Number(fs.readFileSync(path.join(bucket.dir, 'run', 'framepair-packer.pid'), 'utf8'));
      process.kill(packer, 'SIGSTOP');
      let job;
      try {
        const r = await bucket.cli(['submit', '--lr', f.lr, '--hr', f.hr, '--dataset', 'swept', '-q', ...JOB_OPTIONS]);
        check(r.code === 0, `submit failed: ${r.err}`);
        job = r.out.trim();
        await until('the job\'s scene task is done', async () => {
          const st = JSON.parse((await bucket.cli(['status', job, '-o', 'json'])).out || '{}');
          return (st.tasks ?? []).some((t) => t.name === 'scene' && t.state === 'done');
        }, 60);
        const live = await keys(`work/${job}/`);
        check(live.some((k) => k.startsWith('ingest-lr.a1/')), `no current attempt's files: ${live}`);
        await put(`work/${job}/ingest-lr.a97/lr.frames`);
        await put(`work/${job}/pack-00000.a93/train_${job}_00000-of-00003.tfrecord`);
        await until('the dead attempts\' files are swept', async () => {
          const now = await keys(`work/${job}/`);
          return !now.some((k) => k.includes('.a97/') || k.includes('.a93/'));
        }, 45);
        const kept = await keys(`work/${job}/`);
        check(live.every((k) => kept.includes(k)), `a live attempt's files were swept: ${live} -> ${kept}`);
      } finally {
        process.kill(packer, 'SIGCONT');
      }
      const done = await bucket.cli(['watch', job]);
      check(done.code === 0, `the job failed after the sweep: ${done.out}${done.err}`);
      await until('the job\'s work files are removed', async () => (await keys('work/')).length === 0, 20);
      const dataset = await keys('datasets/swept/');
      check(dataset.includes('manifest.json') && !dataset.some((k) => k.includes('.a93')), `dataset: ${dataset}`);
    } finally {
      await bucket.down();
    }
  },

  // Workers with a wrong secret: the job FAILS, its error names the bucket, and the secret is
  // in no error, status or log.
  async service_wrong_secret(env) {
    const f = await footage();
    const secret = 'not-the-secret-0987654321';
    const bucket = await startStack(`s3://${BUCKET}/${STORAGE_PREFIX}`, s3env(env.proxy),
      `AWS_SECRET_ACCESS_KEY=${secret}`);
    try {
      const done = await submitJob(bucket, f, 'denied');
      check(done.code === 1, `the job did not fail (exit ${done.code}): ${done.out}`);
      const job = JSON.parse(done.status);
      check(/failed/i.test(job.state), `state ${job.state}, not failed`);
      check(job.error.includes(BUCKET) && /access denied/.test(job.error),
        `the error does not name the bucket: ${job.error}`);
      check(!(done.out + done.status + bucket.logs()).includes(secret), 'the secret appears in an error or a log');
      const left = Object.keys(await objects(env.s3, `${STORAGE_PREFIX}/datasets/`));
      check(!left.some(isTrainOrVal), `dataset objects after a failed job: ${left}`);
    } finally {
      await bucket.down();
    }
  },

  // The proxy's signature check is real: the AWS SDK's requests pass it, the same requests
  // with a wrong secret do not (the fault tests below rely on both).
  async proxy_checks_signatures(env) {
    const via = (secret) => new S3Client({
      endpoint: `http://127.0.0.1:${env.proxy.port}`, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: KEY, secretAccessKey: secret },
    });
    const good = via(SECRET);
    await good.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'self/a b/x(1).bin', Body: 'abc' }));
    const listed = await good.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'self/a b/' }));
    check(listed.Contents?.length === 1, 'the SDK could not list through the proxy');
    let refused = null;
    try {
      await via('wrong').send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'self/' }));
    } catch (e) {
      refused = e;
    }
    check(refused && refused.$metadata?.httpStatusCode === 403, `a wrong secret passed: ${refused}`);
    check(env.proxy.requests.filter((q) => q.status === 403).length === 1, 'unexpected refusals');
  },

  // run --out s3:// writes what run --out DIR writes, byte for byte; verify reads it back.
  async run_matches_directory(env) {
    const f = await footage();
    const dir = path.join(work, 'dir');
    const local = await runOut(f, dir, {});
    check(local.code === 0, `run --out DIR failed: ${local.err}`);
    const r = await runOut(f, `s3://${BUCKET}/datasets/one`, s3env(env.proxy));
    check(r.code === 0, `run --out s3:// failed (${r.code}): ${r.err}`);
    const want = directory(dir);
    const got = await objects(env.s3, 'datasets/one/');
    await reportObjects(env.s3, 'datasets/one/', got);
    check(JSON.stringify(got) === JSON.stringify(want),
      `objects differ from the directory:\n${JSON.stringify(got)}\n${JSON.stringify(want)}`);
    check(Object.keys(got).some((k) => k.startsWith('train_')) && 'validate.tfrecord' in got,
      'no train_* or validate.tfrecord object');
    const all = await objects(env.s3, '');
    check(!Object.keys(all).some((k) => k.includes('.framepair-staging')), 'staging objects left behind');
    check(env.proxy.requests.some((q) => q.url.includes('uploads=')), 'no multipart upload was used');
    const v = await run(framepair, ['verify', `s3://${BUCKET}/datasets/one`], s3env(env.proxy));
    check(v.code === 0, `verify s3:// failed (${v.code}): ${v.out}${v.err}`);
    // A stray object a reader's glob would pick up is a defect.
    await env.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'datasets/one/train_stray.tfrecord', Body: 'x' }));
    const bad = await run(framepair, ['verify', `s3://${BUCKET}/datasets/one`], s3env(env.proxy));
    check(bad.code === 1 && /train_stray/.test(bad.out + bad.err), `verify missed a stray object: ${bad.out}${bad.err}`);
    // Publishing again replaces the dataset (and the stray object stays a stray).
    const again = await runOut(f, `s3://${BUCKET}/datasets/one`, s3env(env.proxy));
    check(again.code === 0, `second run failed: ${again.err}`);
    // --no-report: the previous report would describe another dataset, so it goes.
    const bare = await run(framepair, ['run', '--lr', f.lr, '--hr', f.hr, '--out', `s3://${BUCKET}/datasets/one`, '-q', '--no-report', ...OPTIONS], s3env(env.proxy));
    check(bare.code === 0, `run --no-report failed: ${bare.err}`);
    const left = await objects(env.s3, 'datasets/one/');
    check(!('report.html' in left) && 'report.binpb' in left, `after --no-report: ${Object.keys(left)}`);
  },

  // 503 storms are retried with backoff; the result is still identical.
  async storm_is_retried(env) {
    const f = await footage();
    const dir = path.join(work, 'dir');
    check((await runOut(f, dir, {})).code === 0, 'run --out DIR failed');
    let n = 0;
    env.proxy.fault = () => (++n % 2 === 0 && n < 200 ? 503 : null);
    const r = await runOut(f, `s3://${BUCKET}/storm`, s3env(env.proxy));
    check(r.code === 0, `run failed under a 503 storm (${r.code}): ${r.err}`);
    check(env.proxy.requests.filter((q) => q.status === 503).length > 5, 'no 503 was injected');
    const got = await objects(env.s3, 'storm/');
    await reportObjects(env.s3, 'storm/', got);
    check(JSON.stringify(got) === JSON.stringify(directory(dir)), 'objects differ after the storm');
  },

  // A part that never uploads: the run fails, the multipart upload is aborted, and nothing a
  // reader's glob matches appears.
  async failing_parts_are_aborted(env) {
    const f = await footage();
    env.proxy.fault = (q) => (q.method === 'PUT' && q.url.includes('partNumber=2') ? 503 : null);
    const r = await runOut(f, `s3://${BUCKET}/parts`, s3env(env.proxy));
    check(r.code !== 0, 'run succeeded although a part could not be uploaded');
    check(/503/.test(r.err) && r.err.includes(BUCKET), `unclear error: ${r.err}`);
    const started = env.proxy.requests.filter((q) => q.method === 'POST' && q.url.includes('uploads=')).length;
    const aborted = env.proxy.requests.filter((q) => q.method === 'DELETE' && q.url.includes('uploadId=') && q.status === 204).length;
    check(started > 0 && aborted === started, `${started} multipart uploads started, ${aborted} aborted`);
    const left = await objects(env.s3, 'parts/');
    check(!Object.keys(left).some(isTrainOrVal), `objects left: ${Object.keys(left)}`);
    check(Object.keys(left).length === 0, `staging left behind: ${Object.keys(left)}`);
  },

  // A wrong secret: a clear error naming the bucket, exit 2, the secret nowhere.
  async wrong_secret(env) {
    const f = await footage();
    const secret = 'not-the-secret-1234567890';
    const r = await runOut(f, `s3://${BUCKET}/denied`, s3env(env.proxy, { AWS_SECRET_ACCESS_KEY: secret }));
    check(r.code === 2, `exit ${r.code}, not 2: ${r.err}`);
    check(r.err.includes(BUCKET) && /access denied/.test(r.err) && /AWS_SECRET_ACCESS_KEY/.test(r.err),
      `unclear error: ${r.err}`);
    check(!(r.out + r.err).includes(secret), 'the secret appears in the output');
    // It failed before any work: no decoding happened.
    check(!/ingest/.test(r.out), 'the run started working before checking the bucket');
  },

  // The server dies mid-upload: the run fails promptly, and once the server is back nothing a
  // reader's glob matches is there.
  async server_killed_mid_upload(env) {
    const f = await footage();
    env.proxy.fault = (q) => {
      if (q.method === 'PUT' && q.url.includes('partNumber=') && !env.killed) {
        env.killed = true;
        env.s3rver.child.kill('SIGKILL');
        return 'drop';
      }
      return null;
    };
    const t0 = Date.now();
    const r = await runOut(f, `s3://${BUCKET}/killed`, s3env(env.proxy));
    check(env.killed, 'the server was never killed');
    check(r.code !== 0, 'run succeeded with a dead server');
    check(r.err.includes(BUCKET), `unclear error: ${r.err}`);
    check(Date.now() - t0 < 60000, 'the run hung on a dead server');
    env.s3rver = await startS3rver(env.data);
    env.proxy.upstream = env.s3rver.port;
    env.proxy.fault = () => null;
    const left = await objects(client(env.s3rver.port), 'killed/');
    check(!Object.keys(left).some(isTrainOrVal), `glob-visible objects left: ${Object.keys(left)}`);
  },
};

async function main() {
  check(CASES[caseName], `unknown case ${caseName}; one of ${Object.keys(CASES)}`);
  const env = { data: path.join(work, 's3rver') };
  fs.mkdirSync(env.data);
  env.s3rver = await startS3rver(env.data);
  env.proxy = await startProxy(env.s3rver.port);
  env.s3 = client(env.s3rver.port);
  try {
    const t0 = Date.now();
    await CASES[caseName](env);
    console.log(`PASS [${caseName}] in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    // What the server refused, for the failure's diagnosis.
    for (const q of env.proxy.requests.filter((r) => r.status >= 400).slice(-10)) {
      console.error(`  ${q.method} ${q.url} -> ${q.status}`);
    }
    throw e;
  } finally {
    env.s3rver.child.kill('SIGKILL');
    await env.proxy.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  if (!process.exitCode) console.error(`FAIL [${caseName}]: ${e.stack || e}`);
  process.exitCode = 1;
});
