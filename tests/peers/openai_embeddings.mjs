// The OpenAI Node SDK against dpuflow serve's /v1/embeddings, float and base64.
// usage: node openai_embeddings.mjs BASE_URL MODEL   (prints one JSON line; exit 1 on mismatch)
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const OpenAI = require('openai').default ?? require('openai');

const [base, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
const input = ['今天天气很好', '我想办理护照'];
const f = await client.embeddings.create({ model, input, encoding_format: 'float' });
// With encoding_format base64 the SDK returns the raw base64 string (it decodes only when the
// caller did not ask for a format); decode it as little-endian float32 as OpenAI specifies.
const b = await client.embeddings.create({ model, input, encoding_format: 'base64' });
const decode = (s) => {
  const buf = Buffer.from(s, 'base64');
  return Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
};
let maxdiff = 0;
for (let i = 0; i < input.length; i++) {
  const fv = f.data[i].embedding, bv = typeof b.data[i].embedding === 'string' ? decode(b.data[i].embedding) : b.data[i].embedding;
  if (fv.length !== bv.length) { console.log(JSON.stringify({ error: 'length', fv: fv.length, bv: bv.length })); process.exit(1); }
  for (let k = 0; k < fv.length; k++) maxdiff = Math.max(maxdiff, Math.abs(fv[k] - bv[k]));
}
const out = { n: f.data.length, dim: f.data[0].embedding.length, model: f.model, prompt_tokens: f.usage.prompt_tokens, maxdiff };
console.log(JSON.stringify(out));
process.exit(out.n === 2 && out.dim > 0 && out.prompt_tokens > 0 && maxdiff < 1e-6 ? 0 : 1);
