/**
 * deno task bench:uid — Snowflake against the layout limit (4,096 ids per ms) and against
 * @sapphire/snowflake; UUID v7 against `uuid`'s v7, the `uuidv7` package and
 * crypto.randomUUID() (v4, for scale). Runs on Deno, then the same file on Node, and ends
 * with `snowflake-vs-limit` and `uuidv7-vs-uuidv7pkg`, each the lower of the two runtimes.
 */
import { Snowflake as SapphireSnowflake } from "@sapphire/snowflake";
import { v7 as uuidPackageV7 } from "uuid";
import { uuidv7 as uuidv7Package } from "uuidv7";
import { snowflake, uuidv7 } from "../uid/mod.ts";
import { isChildRun, printTable, rate, runOnNode, runtimeName, throughput } from "./_runtimes.ts";

const LAYOUT_LIMIT = 4_096_000; // ids per second per instance

function measure(): Record<string, number> {
  let bigintSink = 0n;
  let stringSink = 0;
  const ours = snowflake({ instanceId: 1 });
  const sapphire = new SapphireSnowflake(Date.UTC(2024, 0, 1));
  // A clock that moves to the next millisecond every 4,096 reads: the generator never has
  // to wait, which shows its own cost without the layout's cap.
  let reads = 0;
  let fakeMs = Date.now();
  const uncapped = snowflake({ instanceId: 1 }, {
    clock: { now: () => (++reads & 4095) === 0 ? ++fakeMs : fakeMs },
  });
  const results = {
    "snowflake (ours, bigint)": throughput(() => {
      bigintSink ^= ours.next();
    }),
    "snowflake (ours, uncapped clock)": throughput(() => {
      bigintSink ^= uncapped.next();
    }),
    "snowflake (ours, string)": throughput(() => {
      stringSink += ours.nextString().length;
    }),
    "@sapphire/snowflake generate()": throughput(() => {
      bigintSink ^= sapphire.generate();
    }),
    "uuidv7 (ours)": throughput(() => {
      stringSink += uuidv7().length;
    }),
    "uuid v7()": throughput(() => {
      stringSink += uuidPackageV7().length;
    }),
    "uuidv7 package uuidv7()": throughput(() => {
      stringSink += uuidv7Package().length;
    }),
    "crypto.randomUUID() (v4)": throughput(() => {
      stringSink += crypto.randomUUID().length;
    }),
  };
  const sapphireIds = new Set<bigint>();
  for (let i = 0; i < 1_000_000; i++) sapphireIds.add(sapphire.generate());
  const withDuplicates = { ...results, "@sapphire/snowflake unique of 1M": sapphireIds.size };
  if (bigintSink === -1n || stringSink === -1) console.log("unreachable");
  return withDuplicates;
}

const here = measure();
if (isChildRun) {
  console.log(JSON.stringify(here));
} else {
  const node = runOnNode(new URL(import.meta.url).pathname);
  const runtime = runtimeName();
  console.log(`uid benchmark, ${new Date().toISOString().slice(0, 10)}: ${runtime} and node`);
  printTable(
    ["generator", runtime, "node"],
    Object.keys(here).map((name) =>
      name.includes("unique")
        ? [name, String(here[name]), String(node[name])]
        : [name, rate(here[name]), rate(node[name])]
    ),
  );
  const limitRatio = (r: Record<string, number>) => r["snowflake (ours, bigint)"] / LAYOUT_LIMIT;
  const vsPackage = (r: Record<string, number>) =>
    r["uuidv7 (ours)"] / r["uuidv7 package uuidv7()"];
  const vsUuid = (r: Record<string, number>) => r["uuidv7 (ours)"] / r["uuid v7()"];
  const vsSapphire = (r: Record<string, number>) =>
    r["snowflake (ours, uncapped clock)"] / r["@sapphire/snowflake generate()"];
  printTable(
    ["ratio", runtime, "node"],
    [
      [
        "snowflake ÷ layout limit (4,096/ms)",
        limitRatio(here).toFixed(3),
        limitRatio(node).toFixed(3),
      ],
      [
        "snowflake uncapped ÷ @sapphire/snowflake",
        vsSapphire(here).toFixed(2),
        vsSapphire(node).toFixed(2),
      ],
      ["uuidv7 ÷ uuidv7 package", vsPackage(here).toFixed(2), vsPackage(node).toFixed(2)],
      ["uuidv7 ÷ uuid v7()", vsUuid(here).toFixed(2), vsUuid(node).toFixed(2)],
    ],
  );
  console.log(
    "note: @sapphire/snowflake does not wait for the next millisecond after 4,096 ids: it is not capped by the layout limit, and repeats ids beyond it (see its unique count).",
  );
  console.log(`snowflake-vs-limit: ${Math.min(limitRatio(here), limitRatio(node)).toFixed(3)}`);
  console.log(`uuidv7-vs-uuidv7pkg: ${Math.min(vsPackage(here), vsPackage(node)).toFixed(2)}`);
}
