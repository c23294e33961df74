import { createMemoryStore } from "../../src/store/index.js";
import { describeStoreConformance } from "./conformance.js";

describeStoreConformance("memory", (options) => Promise.resolve(createMemoryStore(options)), {
  durable: false,
  propertyRuns: 100,
});
