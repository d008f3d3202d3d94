// Unknown-field check for validate.mjs.
//
// The schema validators shipped in kubernetes-models accept unknown fields
// (as the API server does, with only a warning), so a typo such as
// `readinessprobe:` or `replicaz:` would pass and silently do nothing. The
// packages' TypeScript declarations list every field of every type; this
// module reads them (the declaration files are machine-generated and
// regular: `export interface IName { "field"?: Type; ... }`) and reports
// fields that the type does not declare.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";

const require = createRequire(import.meta.url);
const cache = new Map(); // declaration file -> { imports, type }

// Tokens: strings, identifiers, punctuation.
function tokenize(text) {
  const tokens = [];
  const re = /\s+|\/\*[\s\S]*?\*\/|\/\/[^\n]*|("(?:[^"\\]|\\.)*")|([A-Za-z_$][\w$]*)|(-?\d+(?:\.\d+)?)|(.)/g;
  let m;
  while ((m = re.exec(text))) {
    if (m[1]) tokens.push({ t: "str", v: JSON.parse(m[1]) });
    else if (m[2]) tokens.push({ t: "id", v: m[2] });
    else if (m[3]) tokens.push({ t: "num", v: m[3] });
    else if (m[4]) tokens.push({ t: "p", v: m[4] });
  }
  return tokens;
}

// Parses a type expression. Result: {k: "object", props, index} |
// {k: "array", item} | {k: "ref", name} | {k: "any"}.
function parseType(tokens, pos) {
  const options = [];
  let i = pos;
  for (;;) {
    let [type, next] = parsePrimary(tokens, i);
    while (tokens[next]?.v === "[" && tokens[next + 1]?.v === "]") {
      type = { k: "array", item: type };
      next += 2;
    }
    options.push(type);
    i = next;
    if (tokens[i]?.v !== "|") break;
    i++;
  }
  // A union of objects/refs cannot be checked field by field.
  return [options.length === 1 ? options[0] : { k: "any" }, i];
}

function parsePrimary(tokens, i) {
  const tok = tokens[i];
  if (tok.v === "{") return parseObject(tokens, i);
  if (tok.v === "(") {
    const [type, next] = parseType(tokens, i + 1);
    return [type, next + 1];
  }
  if (tok.t === "id" && tok.v === "Array" && tokens[i + 1]?.v === "<") {
    const [item, next] = parseType(tokens, i + 2);
    return [{ k: "array", item }, next + 1]; // skip ">"
  }
  if (tok.t === "id" && !["string", "number", "boolean", "any", "unknown", "object", "null", "true", "false"].includes(tok.v)) {
    return [{ k: "ref", name: tok.v }, i + 1];
  }
  return [{ k: "any" }, i + 1];
}

function parseObject(tokens, i) {
  const props = {};
  let index = null;
  i++; // "{"
  while (tokens[i].v !== "}") {
    if (tokens[i].v === "[") {
      // [key: string]: Type;
      while (tokens[i].v !== "]") i++;
      i += 2; // "]" ":"
      [index, i] = parseType(tokens, i);
    } else {
      const name = tokens[i].v;
      i++;
      if (tokens[i].v === "?") i++;
      i++; // ":"
      [props[name], i] = parseType(tokens, i);
    }
    if (tokens[i].v === ";" || tokens[i].v === ",") i++;
  }
  return [{ k: "object", props, index }, i + 1];
}

// The first exported interface of a declaration file, and its imports.
function loadDeclaration(file) {
  if (cache.has(file)) return cache.get(file);
  const text = readFileSync(file, "utf8");
  const imports = {};
  for (const m of text.matchAll(/import \{([^}]*)\} from "([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      imports[name.split(/\s+as\s+/).pop()] = m[2];
    }
  }
  let type = { k: "any" }; // a type alias (IntOrString, Quantity, ...)
  const m = /export interface \w+(?: extends [\w, ]+)? \{/.exec(text);
  if (m) {
    const tokens = tokenize(text.slice(m.index + m[0].length - 1));
    [type] = parseObject(tokens, 0);
  }
  const entry = { file, imports, type };
  cache.set(file, entry);
  return entry;
}

function resolveRef(entry, name) {
  const spec = entry.imports[name];
  if (!spec) return null;
  const path = spec.startsWith(".")
    ? resolve(dirname(entry.file), spec + ".d.ts")
    : require.resolve(spec).replace(/\.js$/, ".d.ts");
  return loadDeclaration(path);
}

function walk(value, type, entry, path, problems) {
  if (value === null || typeof value !== "object") return;
  if (type.k === "ref") {
    const target = resolveRef(entry, type.name);
    if (target) walk(value, target.type, target, path, problems);
    return;
  }
  if (type.k === "array") {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, type.item, entry, `${path}[${i}]`, problems));
    return;
  }
  if (type.k !== "object" || Array.isArray(value)) return;
  for (const [key, v] of Object.entries(value)) {
    if (key in type.props) walk(v, type.props[key], entry, `${path}.${key}`, problems);
    else if (type.index) walk(v, type.index, entry, `${path}.${key}`, problems);
    else problems.push(`${path}.${key}: unknown field`);
  }
}

// Unknown fields of `object` against the declaration of `moduleSpecifier`
// (e.g. "kubernetes-models/apps/v1/StatefulSet"). Returns messages.
export function unknownFields(object, moduleSpecifier) {
  const file = require.resolve(moduleSpecifier).replace(/\.js$/, ".d.ts");
  const entry = loadDeclaration(file);
  const problems = [];
  walk(object, entry.type, entry, "", problems);
  return problems.map((p) => p.replace(/^\./, ""));
}
