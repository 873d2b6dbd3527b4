#!/usr/bin/env node
// A `solc` command line backed by the npm `solc` package (the same compiler built to wasm),
// for machines without a native solc. It answers the two calls py-solc-x and Ape make:
//   solc --version
//   solc --standard-json [--base-path DIR] [--allow-paths A,B] < input.json
// Other flags are accepted and ignored. Imports not inlined in the input are read from
// the base path (default: the working directory), as native solc does.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const args = process.argv.slice(2);

function optionValue(name) {
  const at = args.indexOf(name);
  return at >= 0 && at + 1 < args.length ? args[at + 1] : undefined;
}

if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('this wrapper supports only --version and --standard-json\n');
  process.exit(1);
}

const basePath = optionValue('--base-path') || process.cwd();
const allowed = (optionValue('--allow-paths') || '').split(',').filter(Boolean).map((p) => path.resolve(p));
const roots = [path.resolve(basePath), ...allowed];

function findImport(importPath) {
  for (const root of roots) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, 'utf8') };
    }
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImport }));
