// The web dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core) against
// a network on the validator holding providers, a delegation, jobs in every state, a fraud slash and
// a miss: each page shows the chain's figures (read back from the chain here), live updates arrive
// after transactions, bad addresses and RPC URLs get clear messages, and the console stays clean.
import * as assert from "assert";
import { type ChildProcess, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as net_ from "net";
import * as os from "os";
import * as path from "path";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import { formatTokens, hex, isActive } from "../app/web/src/model";
import {
  type Job,
  Network,
  PARAMS,
  type Provider,
  type Wallet,
  assignmentAddress,
  connection,
  delegationAddress,
  forgedRoot,
  honestRoot,
  program,
  provider,
  shardAddress,
  waitForChainTime,
} from "./support";

const PRICE = 1_000_000;
const STAKE = 2_000_000;
const DELEGATION = 1_000_000;
const DECIMALS = 6;
/** Provider 0's published results endpoint. */
const ENDPOINT = "http://127.0.0.1:9464";
/** Where the screenshots go: `GPUSHARE_SCREENSHOTS` (docs/ when refreshing them) or a temporary folder. */
const SCREENSHOTS = process.env.GPUSHARE_SCREENSHOTS || fs.mkdtempSync(path.join(os.tmpdir(), "gpushare-shots-"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const tokens = (amount: { toString(): string } | bigint) => formatTokens(BigInt(amount.toString()), DECIMALS);

/** Starts `node app/web/serve.mjs` on a free port; resolves with its address once it listens. */
function serveDashboard(): Promise<{ server: ChildProcess; url: string }> {
  const server = spawn(process.execPath, [path.join(__dirname, "..", "app", "web", "serve.mjs"), "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (chunk) => {
      out += chunk;
      const match = /^DASHBOARD (\S+)/m.exec(out);
      if (match) resolve({ server, url: match[1] });
    });
    server.on("exit", (code) => reject(new Error(`dashboard server exited with ${code}: ${out}`)));
  });
}

/** A port nothing listens on (one the system just handed out and took back). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net_.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net_.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe("web dashboard in headless Chromium", function () {
  this.timeout(300_000);
  let net: Network;
  let client: Wallet;
  let staker: Wallet;
  const providers: Provider[] = [];
  const jobs: Record<"settled" | "running" | "open" | "cancelled" | "missed" | "closed" | "expired", Job> = {} as any;
  let server: ChildProcess;
  let base: string;
  let browser: BrowserContext;
  const consoleErrors: string[] = [];

  before(async () => {
    net = await Network.create();
    client = await net.wallet();
    staker = await net.wallet();
    for (let i = 0; i < 3; i++) providers.push(await net.provider(STAKE));
    await net.delegate(staker, providers[0], DELEGATION);
    // Expired: nobody claims it within its (shortest allowed) lifetime.
    // The earliest expiry the program accepts for two replicas of a seeded job is two claim timeouts
    // and two reveal windows (the reveal, and a dispute should the replicas disagree) after its own
    // clock, which may be a second or two ahead of the one read here.
    const shortest = 2 * PARAMS.revealWindow.toNumber() + 2 * 10 + 5;
    jobs.expired = await net.jobWith(client, { gemmI8: { m: 64, n: 64, k: 64 } }, randomBytes(32), 1, 2, { quorum: { q: 2 } }, PRICE, 10, 0, shortest);

    await program.methods
      .setEndpoint(ENDPOINT)
      .accounts({ authority: providers[0].key.publicKey, provider: providers[0].account } as any)
      .signers([providers[0].key])
      .rpc();
    // Settled: a quorum of two pays providers 0 and 1 and slashes provider 2's forged root.
    jobs.settled = await net.job(client, 1, 3, 2, PRICE);
    const roots = [honestRoot(jobs.settled, 0), honestRoot(jobs.settled, 0), forgedRoot(jobs.settled, 0)];
    for (let r = 0; r < 3; r++) await net.claim(providers[r], jobs.settled, 0, r);
    for (let r = 0; r < 3; r++) await net.commit(providers[r], jobs.settled, 0, r, roots[r]);
    for (let r = 0; r < 3; r++) await net.reveal(providers[r], jobs.settled, 0, r, roots[r]);
    await net.settleShard(jobs.settled, 0);
    for (let r = 0; r < 3; r++) await net.settleAssignment(providers[r], jobs.settled, 0, r);
    // Running: one replica committed, one claimed, the second shard untouched.
    jobs.running = await net.job(client, 2, 2, 2, PRICE);
    await net.claim(providers[0], jobs.running, 0, 0);
    await net.commit(providers[0], jobs.running, 0, 0, honestRoot(jobs.running, 0));
    await net.claim(providers[1], jobs.running, 0, 1);
    // Missed: provider 1 claims and never commits; the expired claim slashes it.
    jobs.missed = await net.job(client, 1, 2, 2, PRICE, 10);
    await net.claim(providers[1], jobs.missed, 0, 0);
    const claim = await program.account.assignment.fetch(assignmentAddress(shardAddress(jobs.missed.address, 0), 0));
    await waitForChainTime(claim.commitDeadline.toNumber());
    await net.expireClaim(providers[1], jobs.missed, 0, 0);
    jobs.open = await net.job(client, 1, 2, 2, PRICE);
    jobs.cancelled = await net.job(client, 1, 2, 2, PRICE);
    await net.cancelJob(client, jobs.cancelled);
    jobs.closed = await net.job(client, 1, 2, 2, PRICE);
    await net.cancelJob(client, jobs.closed);
    await net.closeJob(client, jobs.closed);
    await waitForChainTime((await program.account.job.fetch(jobs.expired.address)).expiresAt.toNumber());

    const served = await serveDashboard();
    server = served.server;
    const query = new URLSearchParams({ rpc: provider.connection.rpcEndpoint, network: net.address.toBase58() });
    base = `${served.url.replace(/\/$/, "")}/?${query}`;
    browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "gpushare-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  });

  after(async () => {
    await browser?.close();
    server?.kill("SIGTERM");
  });

  /** A fresh tab on `route` of the test network (or `url`), recording console errors. */
  async function open(route: string, url = base): Promise<Page> {
    const page = await browser.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(`${route}: ${message.text()}`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`${route}: ${error.message}`));
    await page.goto(`${url}#${route}`);
    return page;
  }

  const figure = (page: Page, name: string) => page.locator(`[data-figure="${name}"] .value`);
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `dashboard-${name}.png`), fullPage: true });

  it("network page: providers, stake, jobs by status, payouts and slashes, as the chain holds them", async () => {
    const page = await open("/");
    await page.locator('[data-figure="providers"]').waitFor();
    const accounts = await Promise.all(providers.map((p) => program.account.provider.fetch(p.account)));
    const stake = accounts.reduce((sum, a) => sum + BigInt(a.stake.toString()), 0n);
    const active = accounts.filter((a) => isActive(a, PARAMS.minStake)).length;
    assert.strictEqual(await figure(page, "providers").innerText(), `${accounts.length} (${active})`);
    assert.strictEqual(await figure(page, "total-stake").innerText(), tokens(stake));
    // The delegation is the only delegated stake (the miss slashed provider 1, which has none).
    assert.strictEqual(await figure(page, "delegated-stake").innerText(), tokens(DELEGATION));
    // The missed job reopened its slot after the miss: it is running, like the running job.
    const counts = { open: 1, running: 2, settled: 1, cancelled: 1, expired: 1, closed: 1 };
    for (const [status, count] of Object.entries(counts)) {
      assert.strictEqual(await figure(page, `jobs-${status}`).innerText(), String(count), status);
    }
    const slashed = accounts.reduce((sum, a) => sum + BigInt(a.slashed.toString()), 0n);
    assert.ok(slashed > 0n);
    assert.strictEqual(await figure(page, "slashed-total").innerText(), tokens(slashed));
    const earned = accounts.reduce((sum, a) => sum + BigInt(a.earned.toString()), 0n);
    assert.strictEqual(await figure(page, "paid-total").innerText(), tokens(earned));
    await page.locator('[data-chart="payouts"] canvas').first().waitFor();
    assert.strictEqual(await page.locator(`[data-source="${net.address.toBase58()}"]`).count(), 1);
    await shot(page, "network");
    await page.close();
  });

  it("jobs page: every job account with its status and the closed job from its events, filtered", async () => {
    const page = await open("/jobs");
    const rows = page.locator("[data-table=jobs] tbody tr");
    await rows.first().waitFor();
    const onChain = await program.account.job.all([{ memcmp: { offset: 40, bytes: net.address.toBase58() } }]);
    assert.strictEqual(await rows.count(), onChain.length + 1);
    const statusOf = async (job: Job) => page.locator(`[data-job="${job.address.toBase58()}"]`).getAttribute("data-status");
    assert.strictEqual(await statusOf(jobs.settled), "settled");
    assert.strictEqual(await statusOf(jobs.running), "running");
    assert.strictEqual(await statusOf(jobs.open), "open");
    assert.strictEqual(await statusOf(jobs.cancelled), "cancelled");
    assert.strictEqual(await statusOf(jobs.closed), "closed");
    assert.strictEqual(await program.account.job.fetchNullable(jobs.closed.address), null);
    await shot(page, "jobs");
    await page.selectOption("select[name=status]", "running");
    assert.strictEqual(await rows.count(), 2);
    await page.selectOption("select[name=status]", "all");
    await page.fill("input[name=client]", providers[0].key.publicKey.toBase58());
    await page.locator(".notice.empty").waitFor();
    await page.close();
  });

  it("job page: the shards × replicas grid, roots, escrow and events with their transactions", async () => {
    const page = await open(`/jobs/${jobs.settled.address.toBase58()}`);
    const cell = (slot: string) => page.locator(`[data-cell="${slot}"]`).getAttribute("data-state");
    await page.locator("[data-table=timeline]").waitFor();
    assert.deepStrictEqual([await cell("0/0"), await cell("0/1"), await cell("0/2")], ["paid", "paid", "slashed"]);
    const job = await program.account.job.fetch(jobs.settled.address);
    assert.strictEqual(await figure(page, "paid-out").innerText(), tokens(job.paidOut));
    assert.strictEqual(await figure(page, "fees").innerText(), tokens(job.feesAccrued));
    assert.strictEqual(await figure(page, "slashes-held").innerText(), tokens(job.slashesHeld));
    assert.strictEqual(await figure(page, "status").innerText(), "settled");
    const escrow = job.price.add(job.feePerSlot).muln(job.replicas).muln(job.shards);
    assert.strictEqual(await figure(page, "escrow").innerText(), tokens(escrow));
    assert.strictEqual(await figure(page, "refunded").innerText(), tokens(job.refunded));
    // The winning root and its two votes, as the shard account holds them.
    const shard = await program.account.shard.fetch(shardAddress(jobs.settled.address, 0));
    const votes = page.locator("[data-table=votes] tbody tr");
    assert.strictEqual(await votes.count(), shard.distinctRoots);
    assert.ok((await page.locator("[data-table=votes]").innerText()).includes(hex(shard.roots[0])));
    // Each event names a transaction that landed and logged it.
    const paid = page.locator('[data-event="replicaPaid"] [data-signature]');
    assert.strictEqual(await paid.count(), 2);
    const signature = (await paid.first().getAttribute("data-signature"))!;
    const tx = await connection.getTransaction(signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 });
    assert.ok(tx && !tx.meta?.err && tx.transaction.message.staticAccountKeys.some((k) => k.equals(jobs.settled.address)));
    assert.strictEqual(await page.locator('[data-event="providerSlashed"]').count(), 1);
    // Results: only provider 0 of the two paid publishes an endpoint.
    const results = page.locator("[data-list=results] a");
    assert.strictEqual(await results.count(), 1);
    assert.strictEqual(await results.getAttribute("href"), `${ENDPOINT}/results/${jobs.settled.address.toBase58()}/0`);
    await shot(page, "job");
    await page.close();

    const running = await open(`/jobs/${jobs.running.address.toBase58()}`);
    await running.locator("[data-table=assignments]").waitFor();
    const state = (slot: string) => running.locator(`[data-cell="${slot}"]`).getAttribute("data-state");
    assert.deepStrictEqual(
      [await state("0/0"), await state("0/1"), await state("1/0"), await state("1/1")],
      ["committed", "claimed", "open", "open"],
    );
    const assignment = await program.account.assignment.fetch(assignmentAddress(shardAddress(jobs.running.address, 0), 0));
    assert.ok((await running.locator("[data-table=assignments]").innerText()).includes(hex(assignment.commitment!)));
    await running.close();

    // A closed job has no account left: the page says so and still shows what its events recorded.
    const closed = await open(`/jobs/${jobs.closed.address.toBase58()}`);
    await closed.locator('[data-event="jobClosed"]').waitFor();
    assert.match(await closed.locator(".notice.error").innerText(), /No open job account at \S+ on this network/);
    assert.strictEqual(await closed.locator('[data-event="jobCancelled"]').count(), 1);
    await closed.close();

    // The miss is in the events; the slot itself was reopened for another provider, as the shard says.
    const missed = await open(`/jobs/${jobs.missed.address.toBase58()}`);
    await missed.locator('[data-event="claimExpired"]').waitFor();
    assert.strictEqual(await missed.locator('[data-event="providerSlashed"]').count(), 1);
    const missedShard = await program.account.shard.fetch(shardAddress(jobs.missed.address, 0));
    const reopened = (missedShard.heldMask & 1) === 0;
    assert.strictEqual(await missed.locator('[data-cell="0/0"]').getAttribute("data-state"), reopened ? "open" : "missed");
    await missed.close();
  });

  it("providers page sorts by stake and completion; a provider page shows its record and delegations", async () => {
    const page = await open("/providers");
    const rows = page.locator("[data-table=providers] tbody tr");
    await rows.first().waitFor();
    assert.strictEqual(await rows.count(), 3);
    const accounts = await Promise.all(providers.map((p) => program.account.provider.fetch(p.account)));
    await page.click("button[data-sort=stake]");
    const order = [...providers.keys()].sort((a, b) => accounts[b].stake.cmp(accounts[a].stake));
    for (const [i, index] of order.entries()) {
      assert.strictEqual(await rows.nth(i).getAttribute("data-provider"), providers[index].account.toBase58());
    }
    // By completion rate the honest, fully paid provider 0 leads and the cheater trails.
    await page.click("button[data-sort=completion]");
    assert.strictEqual(await rows.first().getAttribute("data-provider"), providers[0].account.toBase58());
    await page.click("button[data-sort=completion]");
    assert.strictEqual(await rows.first().getAttribute("data-provider"), providers[2].account.toBase58());
    await shot(page, "providers");
    await page.close();

    const cheater = await open(`/providers/${providers[2].account.toBase58()}`);
    await cheater.locator('[data-figure="counters"]').waitFor();
    const account = accounts[2];
    assert.strictEqual(
      await figure(cheater, "counters").innerText(),
      `${account.completed.toNumber()} / ${account.failed.toNumber()} / ${account.missed.toNumber()}`,
    );
    assert.strictEqual(await figure(cheater, "slashed").innerText(), tokens(account.slashed));
    assert.strictEqual(await figure(cheater, "stake").innerText(), tokens(account.stake));
    await cheater.close();

    const delegated = await open(`/providers/${providers[0].account.toBase58()}`);
    await delegated.locator("[data-table=delegations]").waitFor();
    const row = delegated.locator(`[data-delegation="${delegationAddress(providers[0].account, staker.key.publicKey).toBase58()}"]`);
    assert.strictEqual(await row.count(), 1);
    assert.strictEqual(await figure(delegated, "delegated").innerText(), tokens(DELEGATION));
    await delegated.locator('[data-chart="provider-earnings"] canvas').first().waitFor();
    await shot(delegated, "provider");
    await delegated.close();
  });

  it("staker page: claimable rewards equal what a claim pays, and the claim shows up live", async () => {
    const page = await open(`/stakers/${staker.key.publicKey.toBase58()}`);
    await page.locator("[data-table=delegations]").waitFor();
    const shown = await figure(page, "claimable").innerText();
    assert.notStrictEqual(shown, "0");
    assert.strictEqual(await figure(page, "delegated").innerText(), tokens(DELEGATION));
    await shot(page, "staker");
    const before = await net.balance(staker.token);
    await net.claimRewards(staker, providers[0]);
    const received = (await net.balance(staker.token)) - before;
    assert.strictEqual(shown, tokens(received));
    // Without a reload: the claim's event arrives over the websocket and the figures follow.
    await page.locator('[data-event="rewardsClaimed"]').waitFor();
    await page.locator('[data-figure="claimable"] .value', { hasText: /^0$/ }).waitFor();
    assert.strictEqual(await figure(page, "claimed").innerText(), tokens(received));
    await page.close();

    const list = await open("/stakers");
    const row = list.locator(`[data-staker="${staker.key.publicKey.toBase58()}"]`);
    await row.waitFor();
    assert.strictEqual(await list.locator("[data-table=stakers] tbody tr").count(), 1);
    assert.strictEqual(await row.locator("td").nth(1).innerText(), tokens(DELEGATION));
    await list.close();
  });

  it("updates live: a new job appears in the counts and the list, and its grid fills as it is claimed", async () => {
    const overview = await open("/");
    const openJobs = figure(overview, "jobs-open");
    await openJobs.waitFor();
    const before = Number(await openJobs.innerText());
    const page = await open("/jobs");
    await page.locator("[data-table=jobs] tbody tr").first().waitFor();
    const fresh = await net.job(client, 1, 2, 2, PRICE);
    await overview.locator('[data-figure="jobs-open"] .value', { hasText: new RegExp(`^${before + 1}$`) }).waitFor();
    await overview.close();
    const row = page.locator(`[data-job="${fresh.address.toBase58()}"][data-status="open"]`);
    await row.waitFor();
    await row.locator("a.address").first().click();
    await page.locator('[data-cell="0/0"]').waitFor();
    assert.strictEqual(await page.locator('[data-cell="0/0"]').getAttribute("data-state"), "open");
    await net.claim(providers[0], fresh, 0, 0);
    await page.waitForSelector('[data-cell="0/0"][data-state="claimed"]');
    await page.locator('[data-event="slotClaimed"]').waitFor();
    await page.close();
  });

  it("says clearly what is wrong with a bad address, network or RPC URL", async () => {
    const page = await open("/jobs/not-an-address");
    assert.match(await page.locator(".notice.error").innerText(), /Not a valid Solana address: "not-an-address"/);
    await page.goto(`${base}#/providers/${client.key.publicKey.toBase58()}`);
    assert.match(await page.locator(".notice.error").innerText(), /No provider account at/);
    await page.close();

    const dashboard = base.slice(0, base.indexOf("?"));
    const elsewhere = await open("/", `${dashboard}?rpc=${encodeURIComponent(provider.connection.rpcEndpoint)}&network=${client.key.publicKey.toBase58()}`);
    assert.match(await elsewhere.locator(".notice.error").innerText(), /No gpushare network at \S+ on the RPC node/);
    await elsewhere.close();

    const errorsBefore = consoleErrors.length;
    const unreachable = await browser.newPage();
    const refused: string[] = [];
    unreachable.on("console", (message) => message.type() === "error" && refused.push(message.text()));
    const nowhere = `http://127.0.0.1:${await closedPort()}`;
    await unreachable.goto(`${dashboard}?rpc=${encodeURIComponent(nowhere)}`);
    assert.ok((await unreachable.locator(".notice.error").innerText()).startsWith(`Cannot reach the RPC node at ${nowhere}`));
    // The browser itself logs the refused connection; nothing else may be logged.
    assert.ok(refused.every((text) => text.includes("ERR_CONNECTION_REFUSED")), refused.join("\n"));
    await shot(unreachable, "unreachable");
    await unreachable.goto(`${dashboard}?rpc=not-a-url`);
    assert.match(await unreachable.locator(".notice.error").innerText(), /Not an RPC URL: "not-a-url"/);
    await unreachable.close();
    assert.strictEqual(consoleErrors.length, errorsBefore);
  });

  it("logged no console error on any page", () => {
    assert.deepStrictEqual(consoleErrors, []);
  });
});
