import { compactionContract, coordContract } from "./contract.ts";
import { memoryHarness } from "./_harness.ts";

coordContract("memory", memoryHarness);
compactionContract("memory", memoryHarness);
