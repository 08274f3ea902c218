// Writes tests/BertFineTune.Tests/Tokenization/Data/truncation.tokenizers-<version>.txt: what the tokenizers crate
// (npm package tokenizers, the Node binding of the Rust crate transformers' fast tokenizer runs) keeps of a text pair
// for every strategy, max_length, stride and pair of lengths on a grid, main window and overflow windows.
//
//   cd tests/TokenizersReference && npm install && node reference-truncation.mjs
//
// The tokenizer: BERT normaliser and pre-tokenizer, WordPiece over the letters a..z (ids 5..30 after [PAD] [UNK] [CLS]
// [SEP] [MASK]), BERT post-processor. The first text is n1 one-letter words from "a", the second n2 words from "n"
// (n2 = -1: no second text), so every word is one token and each side's tokens are recognisable. A line is
//   strategy max_length stride n1 n2  windows
// windows: each encoding (the main one first, then its overflows in the crate's order) as the first text's letters,
// '|' and the second's ([CLS] and [SEP]s checked here and left out); or "panic" (the crate panics: Encoding::truncate
// asserts stride < max_len) or "error" (the crate returns an error, e.g. the sequence to truncate is too short).
// A panic aborts the process, so each setting runs in a child process, and the pairs the crate's arithmetic says will
// panic run one per process (several processes at once).
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const self = fileURLToPath(import.meta.url);
const tokenizers = require('tokenizers');
const version = JSON.parse(fs.readFileSync(require.resolve('tokenizers/package.json'), 'utf8')).version;
const letters = 'abcdefghijklmnopqrstuvwxyz';
const words = (n, from) => Array.from({ length: n }, (_, i) => letters[(from + i) % 26]).join(' ');

async function worker([strategy, max, stride, ...pairs]) {
  const vocab = { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, '[MASK]': 4 };
  [...letters].forEach((l, i) => { vocab[l] = 5 + i; });
  const tokenizer = new tokenizers.Tokenizer(tokenizers.WordPiece.init(vocab, { unkToken: '[UNK]' }));
  tokenizer.setNormalizer(tokenizers.bertNormalizer({ lowercase: true }));
  tokenizer.setPreTokenizer(tokenizers.bertPreTokenizer());
  tokenizer.setPostProcessor(tokenizers.bertProcessing(['[SEP]', 3], ['[CLS]', 2]));
  tokenizer.setTruncation(Number(max), { strategy, stride: Number(stride) });
  for (let k = 0; k < pairs.length; k += 2) {
    const [n1, n2] = [Number(pairs[k]), Number(pairs[k + 1])];
    let result;
    try {
      const encoding = await tokenizer.encode(words(n1, 0), n2 < 0 ? null : words(n2, 13));
      result = [encoding, ...encoding.getOverflowing()].map((e) => {
        const ids = e.getIds();
        const sequences = e.getSequenceIds();
        const side = (s) => ids.filter((_, i) => sequences[i] === s).map((id) => letters[id - 5]).join('');
        const specials = ids.filter((_, i) => sequences[i] == null);
        const expected = n2 < 0 ? [2, 3] : [2, 3, 3];
        if (specials.join() !== expected.join() || ids[0] !== 2 || ids[ids.length - 1] !== 3) {
          throw new Error(`unexpected special tokens ${ids}`);
        }
        return n2 < 0 ? side(0) : `${side(0)}|${side(1)}`;
      }).join(' ');
    } catch (error) {
      if (String(error).includes('unexpected special')) throw error;
      result = 'error';
    }
    process.stdout.write(`${strategy} ${max} ${stride} ${n1} ${n2} ${result}\n`);
  }
}

// The crate's arithmetic (tokenizer/mod.rs early exit, utils/truncation.rs, Encoding::truncate), used only to send the
// pairs that will panic to a process of their own; the file records what the crate did.
function willPanic(strategy, max, stride, n1, n2) {
  const pair = n2 >= 0;
  const budget = max - (pair ? 3 : 2);
  if (budget <= 0) return false;
  const e1 = strategy === 'OnlySecond' ? n1 : Math.min(n1, max);
  const e2 = pair ? Math.min(n2, max) : 0;
  if (e1 + e2 <= budget) return false;
  const toRemove = e1 + e2 - budget;
  const bad = (length, keep) => keep > 0 && keep < length && stride >= keep;
  if (strategy === 'LongestFirst') {
    if (!pair) return bad(e1, budget);
    let [a, b, swap] = e1 > e2 ? [e2, e1, true] : [e1, e2, false];
    b = a > budget ? a : Math.max(a, budget - a);
    if (a + b > budget) { a = Math.floor(budget / 2); b = a + (budget % 2); }
    if (swap) [a, b] = [b, a];
    return bad(e1, a) || bad(e2, b);
  }
  const length = strategy === 'OnlyFirst' ? e1 : pair ? e2 : -1;
  return length > toRemove && bad(length, length - toRemove);
}

async function main() {
  const lines = [`# tokenizers ${version}; see tests/TokenizersReference/reference-truncation.mjs`];
  const run = (strategy, max, stride, pairs) => new Promise((resolve) => {
    const child = spawn(process.execPath, [self, 'worker', strategy, max, stride, ...pairs.flat()]);
    let stdout = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.resume();
    child.on('close', (status) => resolve({ status, stdout }));
  });
  const jobs = [];
  for (const strategy of ['LongestFirst', 'OnlyFirst', 'OnlySecond']) {
    for (let max = 3; max <= 10; max++) {
      // setTruncation refuses a stride above max_length minus the single-text special tokens.
      for (let stride = 0; stride <= Math.min(2, max - 2); stride++) {
        const safe = [];
        const risky = [];
        for (let n1 = 0; n1 <= 8; n1++) {
          for (let n2 = -1; n2 <= 8; n2++) (willPanic(strategy, max, stride, n1, n2) ? risky : safe).push([n1, n2]);
        }
        jobs.push(async () => {
          const batch = await run(strategy, max, stride, safe);
          if (batch.status === 0) lines.push(...batch.stdout.trim().split('\n'));
          else risky.push(...safe);
          for (const pair of risky) {
            const one = await run(strategy, max, stride, [pair]);
            lines.push(one.status === 0 ? one.stdout.trim() : `${strategy} ${max} ${stride} ${pair[0]} ${pair[1]} panic`);
          }
        });
      }
    }
  }
  // A child per setting, as many at once as there are cores.
  await Promise.all(Array.from({ length: Math.max(1, os.cpus().length) }, async () => {
    while (jobs.length) await jobs.shift()();
  }));
  const header = lines.shift();
  const order = (line) => line.split(' ').slice(0, 5).map((x, i) => (i === 0 ? x : Number(x)));
  lines.sort((x, y) => {
    const [a, b] = [order(x), order(y)];
    for (let i = 0; i < 5; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
  });
  const output = path.join(path.dirname(self), '..', '..', 'tests', 'BertFineTune.Tests', 'Tokenization', 'Data',
    `truncation.tokenizers-${version}.txt`);
  fs.writeFileSync(output, [header, ...lines].join('\n') + '\n');
  console.log(`wrote ${lines.length} settings to ${output}`);
}

if (process.argv[2] === 'worker') await worker(process.argv.slice(3));
else await main();
