// The deploy-time migration: initializes a network from a config, and a second run changes nothing.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { migrate, MigrationConfig } from "../migrations/network";
import { PARAMS, program, provider } from "./support";

const params = {
  feeBps: PARAMS.feeBps,
  minStake: 1_000_000,
  stakePerClaim: 250_000,
  unbondingPeriod: 2,
  maxClaimTimeout: 3_600,
  revealWindow: 10,
  fraudSlashBps: 5_000,
  missSlashBps: 500,
  maxShards: 64,
  maxReplicas: 5,
  updateDelay: 0,
  maxCommissionBps: 5_000,
  commissionDelay: 0,
  minDelegation: 100_000,
  rewardVesting: 0,
  stakeWarmup: 0,
  benchmarkMillis: 2_000,
  benchmarkFee: 10_000_000,
  proofValiditySlots: 216_000,
};

describe("migrations/deploy", function () {
  this.timeout(120_000);

  it("initializes the network once, then reports nothing to do, applies a parameter change, and queues one behind a delay", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpushare-migration-"));
    const config: MigrationConfig = { mintKeypair: path.join(dir, "mint.json"), params };

    const first = await migrate(provider, program.idl, config);
    assert.ok(first.changed);
    assert.ok(first.actions.some((a) => a.startsWith("created mint")));
    assert.ok(first.actions.some((a) => a.startsWith("initialized network")));
    const network = await program.account.network.fetch(first.network);
    assert.ok(network.mint.equals(first.mint));
    assert.ok(network.treasury.equals(first.treasury));

    const second = await migrate(provider, program.idl, config);
    assert.ok(!second.changed);
    assert.ok(second.network.equals(first.network));
    assert.ok(second.actions.some((a) => a.startsWith("nothing to do")));

    const third = await migrate(provider, program.idl, { ...config, params: { ...params, feeBps: 100 } });
    assert.ok(third.changed);
    assert.strictEqual((await program.account.network.fetch(first.network)).params.feeBps, 100);

    // With an update delay in force, a change is queued for providers to see, not applied.
    const delayed = { ...params, feeBps: 100, updateDelay: 3_600 };
    await migrate(provider, program.idl, { ...config, params: delayed });
    const fourth = await migrate(provider, program.idl, { ...config, params: { ...delayed, feeBps: 50 } });
    assert.ok(fourth.actions.some((a) => a.startsWith("queued new parameters")));
    const queued = await program.account.network.fetch(first.network);
    assert.strictEqual(queued.params.feeBps, 100);
    assert.strictEqual(queued.pending?.feeBps, 50);
  });
});
