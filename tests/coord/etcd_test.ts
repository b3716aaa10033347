import { etcdEndpoints } from "../_support/env.ts";
import { coordContract } from "./contract.ts";
import { etcdHarness } from "./_harness.ts";

coordContract("etcd", () => etcdHarness(etcdEndpoints));
