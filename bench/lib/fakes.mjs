/**
 * The local AWS / GCP / Vault servers of test/fakes/ are TypeScript and outside the build (tsconfig.build.json
 * covers src and adapters). Node 20 cannot run .ts (no --experimental-strip-types), and vite-node is not wanted
 * here, so they are transpiled with the installed `typescript` package into bench/.cache/fakes/ — inside the repo,
 * so that their bare imports (@grpc/grpc-js, …) resolve from node_modules. Transpiled afresh on every run (well under a
 * second), so the cache is never stale. Works from a clean clone after `npm ci`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDir, repoRoot } from './fixtures.mjs';

export const fakesSource = join(repoRoot, 'test', 'fakes');
const outDir = join(benchDir, '.cache', 'fakes');

/** The folder of the transpiled fakes, as a file URL ending in a slash. */
export const fakesOutUrl = `${pathToFileURL(outDir).href}/`;

/** Which of `files` (paths relative to the repo) are missing. */
export function missing(files) {
  return files.filter((file) => !existsSync(join(repoRoot, file)));
}

let transpiled;

/** Transpile test/fakes/*.ts once per process; resolves with a function giving a fake module's file URL. */
export async function transpileFakes() {
  transpiled ??= (async () => {
    const { default: ts } = await import('typescript');
    mkdirSync(outDir, { recursive: true });
    for (const file of readdirSync(fakesSource).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))) {
      const source = readFileSync(join(fakesSource, file), 'utf8');
      const { outputText, diagnostics } = ts.transpileModule(source, {
        fileName: file,
        reportDiagnostics: true,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false, verbatimModuleSyntax: false, isolatedModules: true },
      });
      const errors = (diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
      if (errors.length > 0) throw new Error(`transpiling test/fakes/${file}: ${ts.flattenDiagnosticMessageText(errors[0].messageText, '\n')}`);
      writeFileSync(join(outDir, file.replace(/\.ts$/, '.js')), outputText);
    }
    // The folder is ESM like the rest of the project (package.json "type": "module" above it applies).
    return (name) => pathToFileURL(join(outDir, `${name}.js`)).href;
  })();
  return transpiled;
}
