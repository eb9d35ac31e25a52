// Debian's Chromium driven by playwright-core, headless, one fresh profile per
// launch; and the built console UI for startConsole().
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { loadRemixBuild } from '../../console/main.js';

const root = path.resolve(import.meta.dirname, '../..');
export const CHROMIUM = process.env.HOLDFAST_CHROMIUM ?? '/usr/bin/chromium';

/** Each launch gets a fresh temporary profile from playwright, removed on close. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's chromium package (hack/test does) or set HOLDFAST_CHROMIUM`,
    );
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

/** The console UI as `npm run build:app` leaves it in build/. */
export const builtApp = loadRemixBuild;

/**
 * Where the browser tests save screenshots: .holdfast/results/screenshots, or
 * the README's docs/screenshots with HOLDFAST_UPDATE_SCREENSHOTS=1 (run the
 * browser test file alone then, so no other suite's Workspaces show up).
 */
export const SCREENSHOTS =
  process.env.HOLDFAST_UPDATE_SCREENSHOTS === '1'
    ? path.join(root, 'docs/screenshots')
    : path.join(root, '.holdfast/results/screenshots');
