import type { DescMethod } from "@bufbuild/protobuf";
import type { Catalog, ServiceEntry } from "../core/types.js";
import type { IngressLogger } from "./options.js";
import { compileRoutes } from "./routes.js";
import type { RouteTable } from "./routes.js";

/** A method of the catalog as the ingress addresses it. */
export interface MethodTarget {
  readonly service: ServiceEntry;
  readonly method: DescMethod;
  /** `shoppingcart.v1.ShoppingCart/AddItem`, for messages. */
  readonly name: string;
}

/** Everything the ingress derives from one catalog, computed once. */
export interface CatalogView {
  readonly catalog: Catalog;
  /** By gRPC path, `/shoppingcart.v1.ShoppingCart/AddItem`. */
  readonly methods: ReadonlyMap<string, MethodTarget>;
  readonly routes: RouteTable;
}

/**
 * Returns the view of the current catalog, compiling it the first time a
 * catalog object is seen. Keyed by identity: a rediscovery replaces the
 * catalog object, so a new view is compiled and the old one is collected.
 */
export function createCatalogViews(
  catalog: () => Catalog | undefined,
  logger: IngressLogger,
): () => CatalogView | undefined {
  const views = new WeakMap<Catalog, CatalogView>();
  let last: CatalogView | undefined;
  return () => {
    const current = catalog();
    if (current === undefined) return undefined;
    if (last?.catalog === current) return last;
    let view = views.get(current);
    if (view === undefined) {
      view = compileView(current, logger);
      views.set(current, view);
    }
    last = view;
    return view;
  };
}

function compileView(catalog: Catalog, logger: IngressLogger): CatalogView {
  const methods = new Map<string, MethodTarget>();
  for (const service of catalog.services.values()) {
    for (const method of service.desc.methods) {
      const name = `${service.desc.typeName}/${method.name}`;
      methods.set(`/${name}`, { service, method, name });
    }
  }
  const routes = compileRoutes(catalog, logger);
  logger.info(
    { services: catalog.services.size, methods: methods.size, routes: routes.size },
    "ingress compiled catalog",
  );
  return { catalog, methods, routes };
}
