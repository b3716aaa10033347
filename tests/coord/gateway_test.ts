/**
 * The coord contract over etcd's JSON gateway (`transport: "gateway"`, plain `fetch`), on
 * the shared etcd: the same suite the gRPC transport and the memory driver pass.
 */
import { etcdEndpoints } from "../_support/env.ts";
import { coordContract } from "./contract.ts";
import { etcdHarness } from "./_harness.ts";

coordContract(
  "etcd gateway",
  () => etcdHarness(etcdEndpoints, { config: { transport: "gateway" } }),
);
