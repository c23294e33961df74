import { create, createFileRegistry, fromBinary, setExtension, toBinary } from "@bufbuild/protobuf";
import type { DescFile, MessageInitShape } from "@bufbuild/protobuf";
import type { DescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MethodOptionsSchema,
} from "@bufbuild/protobuf/wkt";
import type { Catalog } from "../../src/core/types.js";
import {
  file_google_api_annotations,
  http,
} from "../../../../examples/shopping-cart/src/gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../../../../examples/shopping-cart/src/gen/google/api/http_pb.js";

/**
 * A made-up `test.v1.Library` service whose routes exercise what the sample
 * does not: `{a.b}`, `{name=shelves/x/books/y}`, `**`, verbs, `body: "field"`,
 * `response_body`, additional bindings, custom methods, query parameters.
 */
const { STRING, BOOL, DOUBLE, MESSAGE } = FieldDescriptorProto_Type;
const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;

type Field = [
  name: string,
  number: number,
  type: FieldDescriptorProto_Type,
  repeated?: boolean,
  typeName?: string,
];

function message(name: string, fields: Field[]): MessageInitShape<typeof DescriptorProtoSchema> {
  return {
    name,
    field: fields.map(([n, number, type, repeated, typeName]) => ({
      name: n,
      number,
      type,
      label: repeated === true ? REPEATED : OPTIONAL,
      typeName,
      jsonName: n.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    })),
  };
}

function rule(init: MessageInitShape<typeof HttpRuleSchema>) {
  const options = create(MethodOptionsSchema);
  setExtension(options, http, create(HttpRuleSchema, init));
  return options;
}

function libraryFile() {
  return create(FileDescriptorProtoSchema, {
    name: "test/v1/library.proto",
    package: "test.v1",
    syntax: "proto3",
    dependency: ["google/api/annotations.proto"],
    messageType: [
      message("Author", [["name", 1, STRING]]),
      message("Book", [
        ["name", 1, STRING],
        ["title", 2, STRING],
        ["author", 3, MESSAGE, false, ".test.v1.Author"],
        ["tags", 4, STRING, true],
      ]),
      message("GetBookRequest", [
        ["name", 1, STRING],
        ["tags", 2, STRING, true],
        ["hidden", 3, BOOL],
        ["min_price", 4, DOUBLE],
        ["author", 5, MESSAGE, false, ".test.v1.Author"],
      ]),
      message("UpdateBookRequest", [
        ["name", 1, STRING],
        ["book", 2, MESSAGE, false, ".test.v1.Book"],
      ]),
    ],
    service: [
      {
        name: "Library",
        method: [
          {
            name: "GetBook",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            options: rule({
              pattern: { case: "get", value: "/v1/{name=shelves/*/books/*}" },
              additionalBindings: [
                { pattern: { case: "get", value: "/v1/all/{name=**}" } },
                {
                  pattern: {
                    case: "custom",
                    value: { kind: "LOCK", path: "/v1/locks/{author.name}" },
                  },
                },
              ],
            }),
          },
          {
            name: "GetTop",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            options: rule({ pattern: { case: "get", value: "/v1/shelves/special/books/top" } }),
          },
          {
            name: "UpdateTitle",
            inputType: ".test.v1.UpdateBookRequest",
            outputType: ".test.v1.Book",
            options: rule({
              pattern: { case: "patch", value: "/v1/{book.name=shelves/*/books/*}" },
              body: "book",
              responseBody: "title",
            }),
          },
          {
            name: "Archive",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            options: rule({
              pattern: { case: "post", value: "/v1/{name=shelves/*/books/*}:archive" },
              body: "*",
            }),
          },
          {
            name: "Watch",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            serverStreaming: true,
          },
          {
            name: "Collect",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            clientStreaming: true,
          },
          {
            name: "Chat",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            clientStreaming: true,
            serverStreaming: true,
          },
          {
            name: "WatchShelf",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            serverStreaming: true,
            options: rule({ pattern: { case: "get", value: "/v1/{name=shelves/*}:watch" } }),
          },
          {
            name: "Bad",
            inputType: ".test.v1.GetBookRequest",
            outputType: ".test.v1.Book",
            options: rule({ pattern: { case: "get", value: "/v1/bad/{nonexistent}" } }),
          },
        ],
      },
    ],
  });
}

/** The library catalog, built from a serialized set as discovery would. */
export function libraryCatalog(): Catalog {
  const files: DescFile[] = [];
  const visit = (f: DescFile): void => {
    if (files.includes(f)) return;
    f.dependencies.forEach(visit);
    files.push(f);
  };
  visit(file_google_api_annotations);
  const set = create(FileDescriptorSetSchema, {
    file: [...files.map((f) => f.proto), libraryFile()],
  });
  const registry = createFileRegistry(
    fromBinary(FileDescriptorSetSchema, toBinary(FileDescriptorSetSchema, set)),
  );
  const desc = registry.getService("test.v1.Library");
  if (desc === undefined) throw new Error("test.v1.Library missing");
  return { registry, services: new Map([[desc.typeName, { desc, kind: "action" as const }]]) };
}
