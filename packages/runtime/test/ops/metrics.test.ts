import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/ops/index.js";

describe("createMetrics", () => {
  it("renders every runtime series with its labels after the helpers are called", async () => {
    const metrics = createMetrics();
    metrics.commandCompleted("shop.Cart", "AddItem", "OK", 0.002);
    metrics.commandCompleted("shop.Cart", "AddItem", "OK", 0.004);
    metrics.commandCompleted("shop.Cart", "AddItem", "INVALID_ARGUMENT", 0.001);
    metrics.entityActivated("shop.Cart");
    metrics.entityPassivated("shop.Cart");
    metrics.entityRestarted("shop.Cart", "function_failure");
    metrics.activeEntities("shop.Cart", 1);
    metrics.activeEntities("shop.Cart", 1);
    metrics.activeEntities("shop.Cart", -1);
    metrics.storeCommit("sqlite", 12, 0.003);
    metrics.mailboxRejected("shop.Cart");
    metrics.functionConnected(true);

    const { contentType, body } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain/);
    expect(body).toContain(
      'cairn_commands_total{service="shop.Cart",method="AddItem",code="OK"} 2',
    );
    expect(body).toContain(
      'cairn_commands_total{service="shop.Cart",method="AddItem",code="INVALID_ARGUMENT"} 1',
    );
    expect(body).toContain(
      'cairn_command_duration_seconds_count{service="shop.Cart",method="AddItem"} 3',
    );
    expect(body).toContain(
      'cairn_command_duration_seconds_bucket{le="0.0001",service="shop.Cart",method="AddItem"} 0',
    );
    expect(body).toContain('cairn_active_entities{service="shop.Cart"} 1');
    expect(body).toContain('cairn_entity_activations_total{service="shop.Cart"} 1');
    expect(body).toContain('cairn_entity_passivations_total{service="shop.Cart"} 1');
    expect(body).toContain(
      'cairn_entity_restarts_total{service="shop.Cart",reason="function_failure"} 1',
    );
    expect(body).toContain('cairn_store_commits_total{store="sqlite"} 1');
    expect(body).toContain("cairn_store_commit_batch_size_sum 12");
    expect(body).toContain("cairn_store_commit_duration_seconds_count 1");
    expect(body).toContain('cairn_mailbox_rejections_total{service="shop.Cart"} 1');
    expect(body).toContain("cairn_function_connected 1");
    expect(body).toContain("process_cpu_user_seconds_total");
  });

  it("keeps each runtime's series apart (own registry, not the global one)", async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.functionConnected(true);
    expect((await a.render()).body).toContain("cairn_function_connected 1");
    expect((await b.render()).body).toContain("cairn_function_connected 0");
  });
});
