#!/usr/bin/env node
// ONNX Runtime (CPU, Node binding) as a test peer for dpuflow.
//
//   node tests/peers/ort_run.mjs MODEL.onnx IN.npz OUT.npz [--threads N]
//       Feeds the arrays of IN.npz named as the model's inputs, writes every output to OUT.npz.
//   node tests/peers/ort_run.mjs bench MODEL.onnx [--seq 64] [--batch 1] [--threads 1]
//                                [--runs 50] [--warmup W] [--vocab 100]
//       Builds inputs for every model input (ids in [0, vocab) from a fixed seed; names
//       containing "mask" get ones, "token_type" zeros), warms up, times the runs and prints
//       one JSON line {"p50_ms":..,"p90_ms":..,"min_ms":..,"runs":..}.
//   node tests/peers/ort_run.mjs version
//       Prints the onnxruntime-node version.
//
// Exit: 0 ok, 1 run failed, 2 usage / input error.
// Session options everywhere: graphOptimizationLevel 'all', intraOpNumThreads = threads,
// interOpNumThreads 1, executionMode 'sequential', CPU execution provider.

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'package.json'));

function die(code, msg) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(code);
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    die(2, `cannot load onnxruntime-node (run tests/peers/install.sh): ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------

// numpy descr (without byte order) -> [ORT tensor type, typed array constructor]
const NPY_TYPES = {
  f4: ['float32', Float32Array], f8: ['float64', Float64Array],
  f2: ['float16', Uint16Array],
  i8: ['int64', BigInt64Array], i4: ['int32', Int32Array], i2: ['int16', Int16Array],
  i1: ['int8', Int8Array],
  u8: ['uint64', BigUint64Array], u4: ['uint32', Uint32Array], u2: ['uint16', Uint16Array],
  u1: ['uint8', Uint8Array], b1: ['bool', Uint8Array],
};
const ORT_TO_DESCR = {
  float32: '<f4', float64: '<f8', float16: '<f2', int64: '<i8', int32: '<i4', int16: '<i2',
  int8: '|i1', uint64: '<u8', uint32: '<u4', uint16: '<u2', uint8: '|u1', bool: '|b1',
};

function parseNpy(buf, what) {
  const magic = buf.subarray(0, 6);
  if (magic[0] !== 0x93 || magic.subarray(1).toString('latin1') !== 'NUMPY') {
    throw new Error(`${what}: not a .npy array`);
  }
  const major = buf[6];
  let hlen, hstart;
  if (major === 1) { hlen = buf.readUInt16LE(8); hstart = 10; }
  else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); hstart = 12; }
  else throw new Error(`${what}: unsupported .npy version ${major}`);
  const header = buf.subarray(hstart, hstart + hlen).toString('latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${what}: bad .npy header: ${header}`);
  if (fortran[1] === 'True') throw new Error(`${what}: fortran_order arrays not supported`);
  const d = descr[1];
  if (d[0] === '>') throw new Error(`${what}: big-endian arrays not supported`);
  const key = d.replace(/^[<|=]/, '');
  const t = NPY_TYPES[key];
  if (!t) throw new Error(`${what}: unsupported dtype ${d}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  const nbytes = count * t[1].BYTES_PER_ELEMENT;
  if (buf.length < off + nbytes) throw new Error(`${what}: truncated data`);
  // copy into a fresh, aligned buffer
  const raw = new Uint8Array(nbytes);
  raw.set(buf.subarray(off, off + nbytes));
  const data = new t[1](raw.buffer, 0, count);
  return { type: t[0], dims, data };
}

function makeNpy(type, dims, data) {
  const descr = ORT_TO_DESCR[type];
  if (!descr) throw new Error(`cannot write tensor type ${type}`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  h[0] = 0x93; h.write('NUMPY', 1, 'latin1'); h[6] = 1; h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  let body;
  if (type === 'bool') body = Buffer.from(Uint8Array.from(data, (v) => (v ? 1 : 0)));
  else body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([h, Buffer.from(header, 'latin1'), body]);
}

// ---------------------------------------------------------------------------------------
// .npz (zip): read stored and deflated members (zip64 aware), write stored members
// ---------------------------------------------------------------------------------------

function readNpz(path) {
  const buf = readFileSync(path);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${path}: not a zip file`);
  let count = buf.readUInt16LE(eocd + 10);
  let cdOff = buf.readUInt32LE(eocd + 16);
  // zip64 end of central directory
  if (eocd >= 20 && buf.readUInt32LE(eocd - 20) === 0x07064b50) {
    const z64 = Number(buf.readBigUInt64LE(eocd - 20 + 8));
    if (buf.readUInt32LE(z64) === 0x06064b50) {
      count = Number(buf.readBigUInt64LE(z64 + 32));
      cdOff = Number(buf.readBigUInt64LE(z64 + 48));
    }
  }
  const arrays = new Map();
  let p = cdOff;
  for (let k = 0; k < count; k++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${path}: bad central directory`);
    const method = buf.readUInt16LE(p + 10);
    let csize = buf.readUInt32LE(p + 20);
    let usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    let lho = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nlen).toString('utf8');
    // zip64 extra field: the 0xFFFFFFFF fields, in order usize, csize, offset
    let x = p + 46 + nlen;
    const xend = x + xlen;
    while (x + 4 <= xend) {
      const id = buf.readUInt16LE(x);
      const sz = buf.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        if (usize === 0xffffffff) { usize = Number(buf.readBigUInt64LE(q)); q += 8; }
        if (csize === 0xffffffff) { csize = Number(buf.readBigUInt64LE(q)); q += 8; }
        if (lho === 0xffffffff) { lho = Number(buf.readBigUInt64LE(q)); q += 8; }
      }
      x += 4 + sz;
    }
    p = xend + clen;
    if (buf.readUInt32LE(lho) !== 0x04034b50) throw new Error(`${path}: bad local header`);
    const dataOff = lho + 30 + buf.readUInt16LE(lho + 26) + buf.readUInt16LE(lho + 28);
    const comp = buf.subarray(dataOff, dataOff + csize);
    let raw;
    if (method === 0) raw = comp;
    else if (method === 8) raw = inflateRawSync(comp);
    else throw new Error(`${path}: member ${name}: unsupported compression ${method}`);
    if (raw.length !== usize) throw new Error(`${path}: member ${name}: size mismatch`);
    const key = name.endsWith('.npy') ? name.slice(0, -4) : name;
    arrays.set(key, parseNpy(raw, `${path}:${name}`));
  }
  return arrays;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function writeNpz(path, members) {
  const parts = [];
  const central = [];
  let off = 0;
  for (const [name, npy] of members) {
    const fname = Buffer.from(`${name}.npy`, 'utf8');
    const crc = crc32(npy);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0, 6);
    lh.writeUInt16LE(0, 8); lh.writeUInt16LE(0, 10); lh.writeUInt16LE(0x21, 12); // 1980-01-01
    lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(npy.length, 18);
    lh.writeUInt32LE(npy.length, 22); lh.writeUInt16LE(fname.length, 26);
    lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0, 8); ch.writeUInt16LE(0, 10); ch.writeUInt16LE(0, 12);
    ch.writeUInt16LE(0x21, 14); ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(npy.length, 20);
    ch.writeUInt32LE(npy.length, 24); ch.writeUInt16LE(fname.length, 28);
    ch.writeUInt32LE(off, 42);
    parts.push(lh, fname, npy);
    central.push(ch, fname);
    off += lh.length + fname.length + npy.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8); end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(off, 16);
  writeFileSync(path, Buffer.concat([...parts, cd, end]));
}

// ---------------------------------------------------------------------------------------
// ORT
// ---------------------------------------------------------------------------------------

function parseOpts(argv, spec) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const key = a.slice(2);
      if (!(key in spec)) die(2, `unknown option ${a}`);
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) die(2, `${a} needs a non-negative integer`);
      out[key] = Number(v);
    } else {
      out._.push(a);
    }
  }
  for (const [k, v] of Object.entries(spec)) if (!(k in out)) out[k] = v;
  return out;
}

async function openSession(ort, model, threads) {
  try {
    return await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (e) {
    die(1, `${model}: cannot create session: ${e.message}`);
  }
}

async function cmdRun(argv) {
  const o = parseOpts(argv, { threads: 1 });
  if (o._.length !== 3) die(2, 'usage: ort_run.mjs MODEL.onnx IN.npz OUT.npz [--threads N]');
  const [model, inPath, outPath] = o._;
  let arrays;
  try { arrays = readNpz(inPath); } catch (e) { die(2, e.message); }
  const ort = loadOrt();
  const session = await openSession(ort, model, o.threads);
  const feeds = {};
  for (const name of session.inputNames) {
    const a = arrays.get(name);
    if (!a) die(2, `${inPath}: no array named "${name}" (model input)`);
    feeds[name] = new ort.Tensor(a.type, a.data, a.dims);
  }
  let results;
  try { results = await session.run(feeds); } catch (e) { die(1, `${model}: run failed: ${e.message}`); }
  const members = session.outputNames.map((n) => {
    const t = results[n];
    return [n, makeNpy(t.type, Array.from(t.dims), t.data)];
  });
  writeNpz(outPath, members);
  await session.release();
}

// mulberry32: small fixed-seed PRNG
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function benchInput(ort, meta, name, batch, seq, vocab, rand) {
  const type = meta && meta.isTensor && meta.type ? meta.type : 'int64';
  const n = batch * seq;
  const lname = name.toLowerCase();
  const val = (i) => {
    if (lname.includes('mask')) return 1;
    if (lname.includes('token_type') || lname.includes('segment')) return 0;
    if (lname.includes('position')) return i % seq;
    return Math.floor(rand() * vocab);
  };
  let data;
  if (type === 'int64') data = BigInt64Array.from({ length: n }, (_, i) => BigInt(val(i)));
  else if (type === 'int32') data = Int32Array.from({ length: n }, (_, i) => val(i));
  else if (type === 'float32') data = Float32Array.from({ length: n }, (_, i) => val(i));
  else die(2, `bench: input "${name}" has type ${type}; only int64/int32/float32 supported`);
  return new ort.Tensor(type, data, [batch, seq]);
}

function percentile(sorted, p) {
  // nearest-rank
  const k = Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

async function cmdBench(argv) {
  const o = parseOpts(argv, { seq: 64, batch: 1, threads: 1, runs: 50, warmup: -1, vocab: 100 });
  if (o._.length !== 1) {
    die(2, 'usage: ort_run.mjs bench MODEL.onnx [--seq 64] [--batch 1] [--threads 1] [--runs N]');
  }
  if (o.runs < 1 || o.batch < 1 || o.seq < 1 || o.vocab < 1) die(2, 'bench: sizes must be >= 1');
  const ort = loadOrt();
  const session = await openSession(ort, o._[0], o.threads);
  const rand = rng(1234);
  const metas = session.inputMetadata || [];
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    feeds[name] = benchInput(ort, metas[i], name, o.batch, o.seq, o.vocab, rand);
  });
  const warm = o.warmup >= 0 ? o.warmup : Math.max(3, Math.ceil(o.runs / 10));
  try {
    for (let i = 0; i < warm; i++) await session.run(feeds);
    const times = [];
    for (let i = 0; i < o.runs; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const r = (x) => Math.round(x * 1000) / 1000;
    process.stdout.write(JSON.stringify({
      p50_ms: r(percentile(times, 50)), p90_ms: r(percentile(times, 90)),
      min_ms: r(times[0]), runs: o.runs,
    }) + '\n');
  } catch (e) {
    die(1, `${o._[0]}: run failed: ${e.message}`);
  }
  await session.release();
}

const args = process.argv.slice(2);
if (args[0] === 'version') {
  const pkg = JSON.parse(readFileSync(
    join(dirname(require.resolve('onnxruntime-node')), '..', 'package.json'), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
} else if (args[0] === 'bench') {
  await cmdBench(args.slice(1));
} else if (args.length === 0 || args[0] === '-h' || args[0] === '--help') {
  die(2, 'usage: ort_run.mjs MODEL.onnx IN.npz OUT.npz [--threads N]\n'
    + '       ort_run.mjs bench MODEL.onnx [--seq 64] [--batch 1] [--threads 1] [--runs N]\n'
    + '       ort_run.mjs version');
} else {
  await cmdRun(args);
}
