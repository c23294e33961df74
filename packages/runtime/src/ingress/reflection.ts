import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescFile } from "@bufbuild/protobuf";
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import type { CatalogView } from "./catalog-view.js";

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];
type Captured = Map<string, { def: ServiceDefinition; impl: UntypedServiceImplementation }>;

/**
 * Serves gRPC server reflection (v1 and v1alpha) for whatever catalog is
 * current. @grpc/reflection is built for a fixed package definition, so we
 * build one ReflectionService per catalog and register, once, a handler per
 * reflection service that hands each new stream to the current catalog's
 * implementation. A stream keeps the catalog it started with.
 */
export function addReflection(
  server: Server,
  views: () => CatalogView | undefined,
  fileDescriptorSet?: () => Uint8Array | undefined,
): void {
  const perView = new WeakMap<CatalogView, Captured>();
  const empty = capture(new ReflectionService({}, { services: [] }));
  const current = (): Captured => {
    const view = views();
    if (view === undefined) return empty;
    let captured = perView.get(view);
    if (captured === undefined) {
      captured = capture(reflectionFor(view, fileDescriptorSet?.()));
      perView.set(view, captured);
    }
    return captured;
  };
  for (const [name, { def }] of empty) {
    const impl: UntypedServiceImplementation = {};
    for (const key of Object.keys(def)) {
      impl[key] = (call: unknown, callback: unknown): void => {
        const target = current().get(name)?.impl[key] ?? empty.get(name)?.impl[key];
        (target as (c: unknown, cb: unknown) => void)(call, callback);
      };
    }
    server.addService(def, impl);
  }
}

/**
 * Files come from the discovered descriptor set when there is one (exactly
 * what the user compiled), completed by the registry's files (imports the
 * set may leave out, well-known types).
 */
function reflectionFor(view: CatalogView, set: Uint8Array | undefined): ReflectionService {
  const encoded = new Map<string, Buffer>();
  for (const proto of set === undefined ? [] : decodeSet(set))
    encoded.set(proto.name, Buffer.from(toBinary(FileDescriptorProtoSchema, proto)));
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    for (const dep of file.dependencies) visit(dep);
  };
  for (const type of view.catalog.registry) visit(type.file);
  for (const f of files.values()) {
    if (!encoded.has(f.proto.name))
      encoded.set(f.proto.name, Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  }
  const fileDescriptorProtos = [...encoded.values()];
  const pkg = {
    "cairn.catalog": {
      format: "Protocol Buffer 3 DescriptorProto",
      type: {},
      fileDescriptorProtos,
    },
  };
  return new ReflectionService(pkg as unknown as PackageDefinition, {
    services: [...view.catalog.services.keys()],
  });
}

function decodeSet(set: Uint8Array): FileDescriptorSet["file"] {
  try {
    return fromBinary(FileDescriptorSetSchema, set).file;
  } catch {
    return []; // the registry was built from the same set, so its files stand in
  }
}

/** Collects the service definitions and implementations a ReflectionService would add. */
function capture(service: ReflectionService): Captured {
  const out: Captured = new Map();
  service.addToServer({
    addService(def: ServiceDefinition, impl: UntypedServiceImplementation): void {
      const path = Object.values(def)[0]?.path ?? "";
      out.set(path.split("/")[1] ?? path, { def, impl });
    },
  });
  return out;
}
