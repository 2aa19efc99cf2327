/**
 * zod in English only (issue 14, goal 4: idle RSS; bench/results/2026-12-05-memory.md, stop 10). Every
 * entry point of zod 4 (`zod`, `zod/mini`, `zod/v4/core`) re-exports all of its locales
 * (`export * as locales from "../locales/index.js"`): 63 modules loaded and kept, ≈ 1 MB of the idle RSS
 * of `serve`, when the configuration's messages are zod's English (its default, which its classic schemas
 * set from `../locales/en.js` themselves). A module hook serves that index as English alone; nothing in
 * Portcullis reads `z.locales`.
 *
 * It must be registered before anything loads zod: the CLI does it first, and loads every command lazily.
 * A zod whose locales index is elsewhere is simply not matched (all its locales load, as before).
 */
import { registerHooks } from 'node:module';

const LOCALES_INDEX = /\/node_modules\/zod\/v4\/locales\/index\.js$/;

let registered = false;

export function englishOnlyZod(): void {
  if (registered) return;
  registered = true;
  registerHooks({
    load(url, context, nextLoad) {
      if (!LOCALES_INDEX.test(url)) return nextLoad(url, context);
      return { format: 'module', source: 'export { default as en } from "./en.js";\n', shortCircuit: true };
    },
  });
}
