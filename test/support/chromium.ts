/**
 * Headless Debian Chromium for the browser tests (playwright-core driving /usr/bin/chromium; never a
 * downloaded browser). Outside CI a machine without it skips those tests with the command that installs
 * it; on CI (`CI` set, as `.ci/run` runs) a missing browser is a failure, so the browser tests cannot pass
 * by not running.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots for a human to look at (git-ignored). */
export const ARTIFACTS = fileURLToPath(new URL('../e2e/artifacts/', import.meta.url));
/** A navigation here takes milliseconds: waits are bounded so a hang fails fast with a message. */
export const STEP_TIMEOUT_MS = 5_000;

const MISSING = `chromium not installed at ${CHROMIUM} (apt-get install -y chromium)`;
/** The `skip` option of a browser test: false, or why it cannot run on this (non-CI) machine. */
export const SKIP: string | false = existsSync(CHROMIUM) || process.env['CI'] ? false : MISSING;

export interface ChromiumSession {
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  close(): Promise<void>;
}

export async function openChromium(): Promise<ChromiumSession> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    timeout: 15_000,
  });
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 }, colorScheme: 'light' });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    browser,
    context,
    page,
    async close() {
      await context.close().catch(() => {});
      await browser.close().catch(() => {});
    },
  };
}
