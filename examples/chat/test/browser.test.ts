/**
 * The chat page in headless Chromium (Debian's `chromium`, driven by
 * playwright-core): two tabs in one room see each other online and each
 * other's messages pushed live, and a closed tab's presence disappears from
 * the other's page. Skipped, saying so, where /usr/bin/chromium is absent
 * (CI installs it: .ci/run).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { startFunction, startRuntime, tempDir } from "../../shopping-cart/test/harness.js";
import type { Proc } from "../../shopping-cart/test/harness.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);
}
const SAMPLE = join(import.meta.dirname, "../src/main.ts");
const procs: Proc[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const p of procs.splice(0).reverse()) await p.kill9();
});

const onlineOf = (page: Page) => page.locator("#online li").allTextContents();

describe("the chat page", () => {
  it.skipIf(!hasChromium)(
    `shows presence and live messages, and a closed tab leaves (needs ${CHROMIUM})`,
    async () => {
      const tmp = tempDir();
      cleanups.push(tmp.cleanup);
      const fn = await startFunction(0, SAMPLE, { CHAT_WEB_PORT: "0" });
      procs.push(fn.proc);
      const rt = await startRuntime({
        functionPort: fn.port,
        store: `${tmp.dir}/cairn.db`,
        args: ["--cors-origins", "http://127.0.0.1:*"],
      });
      procs.push(rt.proc);
      const ready = await fn.proc.waitForLine((l) => l.includes('"chat page ready"'));
      const page = (JSON.parse(ready) as { url: string }).url;
      const browser: Browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox"],
      });
      cleanups.push(() => browser.close());
      const open = async (user: string) => {
        const tab = await browser.newPage();
        await tab.goto(`${page}?room=garden&user=${user}&runtime=${encodeURIComponent(rt.url)}`);
        return tab;
      };
      const ada = await open("ada");
      const bob = await open("bob");
      await expect.poll(() => onlineOf(ada), { timeout: 15_000 }).toEqual(["ada", "bob"]);
      await expect.poll(() => onlineOf(bob), { timeout: 15_000 }).toEqual(["ada", "bob"]);
      await bob.fill("#text", "hello from bob");
      await bob.click("button");
      await expect
        .poll(() => ada.locator("#messages li").allTextContents(), { timeout: 15_000 })
        .toEqual(["bobhello from bob"]);
      // Closing Bob's tab ends his subscription: his presence is withdrawn.
      await bob.close();
      await expect.poll(() => onlineOf(ada), { timeout: 15_000 }).toEqual(["ada"]);
    },
  );
});
