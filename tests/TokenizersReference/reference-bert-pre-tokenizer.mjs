// Writes the reference data of BertUnicodeConformanceTests from the tokenizers crate itself: the npm package
// tokenizers 0.23.2 (Hugging Face's Node binding of the same Rust crate transformers' fast tokenizer runs), its
// bertNormalizer + bertPreTokenizer.
//
//   cd tests/TokenizersReference && npm install && node reference-bert-pre-tokenizer.mjs
//
// tests/BertFineTune.Tests/Tokenization/Data/bert-code-points.tokenizers-0.23.2.txt
//   For every Unicode scalar value c and two configurations, the words of "x" + c + "x":
//   cased (lowercase false, strip_accents unset = false) and uncased (lowercase true, strip_accents unset = true);
//   clean_text and handle_chinese_chars true in both. Runs of code points with the same kind are one line:
//   K  one word, c kept as it is: xcx          W  c is white space: x | x
//   R  c removed: xx                           I  c is a word of its own: x | c | x
//   H  a Hangul syllable, decomposed by the Unicode algorithm: x + L V (T) + x, one word
//   E  explicit: the words, each as hex code points joined by '.', separated by '|'
// tests/BertFineTune.Tests/Tokenization/Data/bert-reordering.tokenizers-0.23.2.txt
//   The uncased configuration keeps the combining characters that are not Mn in Unicode 8.0 (the marks it strips) but
//   have a non-zero combining class in Unicode 9.0 (NFD's canonical reordering moves them): found as the characters
//   kept alone that swap places with one of two probes. For every ordered pair (a, b) of them, "x" + a + b + "x"
//   gives x a b x (S) or x b a x (R).
// tests/BertFineTune.Tests/Tokenization/Data/bert-strings.tokenizers-0.23.2.txt
//   Pseudo-random strings (fixed seed) over characters of every kind above, and the words with their offsets (in code
//   points, as Python's) for four configurations of lowercase / strip_accents.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const tokenizers = require('tokenizers');
const version = JSON.parse(fs.readFileSync(require.resolve('tokenizers/package.json'), 'utf8')).version;
const dataFolder = path.join(here, '..', '..', 'tests', 'BertFineTune.Tests', 'Tokenization', 'Data');
fs.mkdirSync(dataFolder, { recursive: true });

const preTokenizer = tokenizers.bertPreTokenizer();
const configurations = {
  cased: tokenizers.bertNormalizer({ lowercase: false }),
  uncased: tokenizers.bertNormalizer({ lowercase: true }),
  strip: tokenizers.bertNormalizer({ lowercase: false, stripAccents: true }),
  lower: tokenizers.bertNormalizer({ lowercase: true, stripAccents: false }),
};
// The words' text: pre-tokenising the normalised string. Their offsets in the original text: an encoding by a WordPiece
// model whose vocabulary is only [UNK], so that every word is exactly one [UNK] token carrying the word's offsets.
const words = (normalizer, text) => preTokenizer.preTokenizeString(normalizer.normalizeString(text));
const unknownOnly = Object.fromEntries(Object.keys(configurations).map((name) => {
  const tokenizer = new tokenizers.Tokenizer(tokenizers.WordPiece.init({ '[UNK]': 0 }, { unkToken: '[UNK]' }));
  tokenizer.setNormalizer(configurations[name]);
  tokenizer.setPreTokenizer(preTokenizer);
  return [name, tokenizer];
}));
const wordsWithOffsets = async (name, text) => {
  const texts = words(configurations[name], text).map(([t]) => t);
  const offsets = (await unknownOnly[name].encode(text)).getOffsets();
  if (offsets.length !== texts.length) throw new Error(`${texts.length} words but ${offsets.length} tokens for ${hexOf(text)}`);
  return texts.map((t, i) => [t, offsets[i]]);
};
const hexOf = (s) => [...s].map((ch) => ch.codePointAt(0).toString(16).toUpperCase()).join('.');
const h = (c) => c.toString(16).toUpperCase().padStart(4, '0');
const scalars = function* () {
  for (let c = 0; c <= 0x10FFFF; c++) if (c < 0xD800 || c > 0xDFFF) yield c;
};

// ---- every code point alone between two x
const hangul = (c) => {
  const s = c - 0xAC00;
  const out = [0x1100 + Math.floor(s / 588), 0x1161 + Math.floor((s % 588) / 28)];
  if (s % 28) out.push(0x11A7 + (s % 28));
  return String.fromCodePoint(...out);
};
const kindOf = (c, w) => {
  const ch = String.fromCodePoint(c);
  const texts = w.map(([t]) => t);
  const is = (...expected) => texts.length === expected.length && texts.every((t, i) => t === expected[i]);
  if (is(`x${ch}x`)) return 'K';
  if (is('xx')) return 'R';
  if (is('x', 'x')) return 'W';
  if (is('x', ch, 'x')) return 'I';
  if (c >= 0xAC00 && c <= 0xD7A3 && is(`x${hangul(c)}x`)) return 'H';
  return `E ${texts.map(hexOf).join('|')}`;
};
const lines = [`# tokenizers ${version} BertNormalizer + BertPreTokenizer on "x" + c + "x"; see tests/TokenizersReference/reference-bert-pre-tokenizer.mjs`];
for (const name of ['cased', 'uncased']) {
  lines.push(`[${name}]`);
  let run = null;
  const flush = () => {
    if (run) lines.push(`${h(run.first)}${run.last !== run.first ? '-' + h(run.last) : ''} ${run.kind}`);
    run = null;
  };
  for (const c of scalars()) {
    const kind = kindOf(c, words(configurations[name], `x${String.fromCodePoint(c)}x`));
    // Explicit lines are per code point; surrogates (never in a run) end a run.
    if (run && run.kind === kind && run.last === c - 1 && !kind.startsWith('E')) {
      run.last = c;
    } else {
      flush();
      run = { first: c, last: c, kind };
    }
  }
  flush();
}
fs.writeFileSync(path.join(dataFolder, `bert-code-points.tokenizers-${version}.txt`), lines.join('\n') + '\n');

// ---- canonical reordering of the non-starters the uncased configuration keeps
// Probes: U+1E944 (class 230) and U+1E94A (class 7), both kept. A kept character of any non-zero class reorders with
// one of them: class < 230 moves before the class-230 probe, class >= 7 after the class-7 one... and class < 7 before it.
const probes = ['\u{1E944}', '\u{1E94A}'];
const one = (text) => {
  const w = words(configurations.uncased, text).map(([t]) => t);
  return w.length === 1 ? w[0] : null;
};
const kept = [];
for (const c of scalars()) {
  const ch = String.fromCodePoint(c);
  if (one(`x${ch}x`) !== `x${ch}x`) continue;
  if (probes.some((p) => one(`x${p}${ch}x`) === `x${ch}${p}x` || one(`x${ch}${p}x`) === `x${p}${ch}x`)) kept.push(c);
}
const pairLines = [`# tokenizers ${version}, uncased: "x" + a + b + "x" for a (line) and b (column) in the list; S = a b, R = b a`];
pairLines.push(kept.map(h).join(' '));
for (const a of kept) {
  let row = '';
  for (const b of kept) {
    const [ca, cb] = [String.fromCodePoint(a), String.fromCodePoint(b)];
    const got = words(configurations.uncased, `x${ca}${cb}x`).map(([t]) => t);
    if (got.length === 1 && got[0] === `x${ca}${cb}x`) row += 'S';
    else if (got.length === 1 && got[0] === `x${cb}${ca}x`) row += 'R';
    else throw new Error(`unexpected ${JSON.stringify(got)} for ${h(a)} ${h(b)}`);
  }
  pairLines.push(row);
}
fs.writeFileSync(path.join(dataFolder, `bert-reordering.tokenizers-${version}.txt`), pairLines.join('\n') + '\n');

// ---- pseudo-random strings
let seed = 20260611;
const random = (n) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const pool = [
  ...'abcXYZ09', ' ', ' ', '\t', '\n', '\r', '\u00A0', '\u3000', '\u2028', '\u0085', '\u000B', '\u001F',
  '.', ',', '!', '-', '`', '\u00BF', '\u2014', '\u300C', '\u00B7', '\u037E', '\u0387', '\u1FEF', '\u1FFD', '\u2E43', '\u2E52',
  '\u00E9', 'e\u0301', '\u00C9', '\u0130', '\u0131', '\u00DF', '\u1E9E', '\u03A3', '\u0391', '\u0410', '\u01C5', '\u212A',
  '\u0301', '\u0323', '\u0334', '\u0345', '\u05B0', '\u0898', '\u08D4', '\u1DFB', '\u1E94A', '\u1E944', '\u302E', '\u1D165', '\u1D16D',
  '\u{1D15E}', '\u{1D160}', '\u0F73', '\u0344',
  '\u0000', '\uFFFD', '\u0007', '\u00AD', '\u200B', '\u200D', '\u2066', '\uFEFF', '\u0890', '\u{110CD}', '\u{13430}', '\u{E0001}',
  '\uE000', '\u{F0000}', '\u0378', '\uFFFF', '\uFFFE', '\u{10FFFF}', '\u{1F600}', '\u{1F3FB}',
  '\u4E00', '\u9FFF', '\u3400', '\uF900', '\uFA0E', '\u{20000}', '\u{2B81F}', '\u{2B820}', '\u{2B91F}', '\u{2B920}', '\u{2F800}', '\u{30000}',
  '\uAC00', '\uD7A3', '\u1100', '\u3131', '\u3042', '\u30A2',
];
const stringLines = [`# tokenizers ${version}: input as hex code points, then per configuration the words as text(hex).start.end; offsets in code points`];
for (let i = 0; i < 400; i++) {
  const length = 1 + random(12);
  let text = '';
  for (let k = 0; k < length; k++) text += pool[random(pool.length)];
  stringLines.push(`> ${hexOf(text)}`);
  for (const name of ['cased', 'uncased', 'strip', 'lower']) {
    const w = await wordsWithOffsets(name, text);
    stringLines.push(`${name} ${w.map(([t, [s, e]]) => `${hexOf(t)}@${s}-${e}`).join(' ')}`);
  }
}
fs.writeFileSync(path.join(dataFolder, `bert-strings.tokenizers-${version}.txt`), stringLines.join('\n') + '\n');
console.log(`wrote ${lines.length} code point lines, ${kept.length} reordering characters, 400 strings`);
